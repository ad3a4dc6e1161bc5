//! `dualrpc serve`: the gateway from a config file or from `--endpoint NAME=URL` flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use dualrpc::{Config, Pool};
use dualrpc_gateway::{Gateway, GatewayOptions};

/// Arguments of `dualrpc serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// TOML config file (see README.md). `${VAR}` in values is taken from the environment.
    #[arg(long, short, conflicts_with = "endpoint")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the config's `listen`; default 127.0.0.1:8899).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// An upstream as NAME=URL; repeat for each. Every other setting takes its default.
    #[arg(long, value_name = "NAME=URL", value_parser = parse_endpoint)]
    endpoint: Vec<(String, String)>,
}

fn parse_endpoint(s: &str) -> Result<(String, String), String> {
    // The URL may carry a key: the error never repeats the argument.
    s.split_once('=')
        .map(|(n, u)| (n.trim().to_string(), u.trim().to_string()))
        .filter(|(n, u)| !n.is_empty() && !u.is_empty())
        .ok_or_else(|| "expected NAME=URL (for example helius=https://…)".to_string())
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match (&args.config, args.endpoint.is_empty()) {
        (Some(path), _) => Config::load(path)?,
        (None, false) => Config::from_endpoints(args.endpoint.clone())?,
        (None, true) => return Err("give --config FILE or at least one --endpoint NAME=URL".into()),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let options = GatewayOptions::from_config(&config);
    let listen = config.listen;
    let pool = Pool::from_config(config)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        endpoints = %pool.endpoint_names().join(","),
        "dualrpc gateway ready"
    );
    let gateway = Gateway::new(pool, options);
    if let Some(path) = args.config.clone() {
        reload_on_sighup(gateway.clone(), path);
    }
    gateway.serve(listener, crate::shutdown_signal()).await?;
    tracing::info!("shut down: every in-flight request was answered");
    Ok(())
}

/// On SIGHUP, reads the config file again and swaps in a new pool and options; calls in
/// flight finish on the old ones. A config that does not load is reported and ignored.
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
            let loaded = Config::load(&path).and_then(|c| {
                let options = GatewayOptions::from_config(&c);
                Pool::from_config(c).map(|p| (p, options))
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
