//! The `dualrpc` command: a thin layer that parses arguments, loads configuration and
//! calls the library functions the tests, the demo and the bench also call.
//!
//! - `dualrpc serve` — the gateway on one single-threaded runtime per core
//!   (`dualrpc_gateway::Workers`);
//! - `dualrpc sim` — simulated Solana upstreams (`dualrpc_sim::run_cli`);
//! - `dualrpc demo` — sim upstreams + gateways + the bot workload, a table per strategy;
//! - `dualrpc bench` — the same, longer, with nginx, the oracle, the overhead probe and a
//!   written report (`dualrpc_bench`).

mod serve;

use clap::{Parser, Subcommand};

/// Make several Solana JSON-RPC providers behave like one faster, more reliable provider.
#[derive(Debug, Parser)]
#[command(name = "dualrpc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the JSON-RPC gateway in front of your providers.
    Serve(serve::ServeArgs),
    /// Start simulated Solana RPC endpoints on loopback.
    Sim(dualrpc_sim::SimArgs),
    /// Run the meme-coin detection workload through every strategy on simulated providers.
    Demo(dualrpc_bench::DemoArgs),
    /// Benchmark strategies, nginx and the oracle on a scenario; write a report.
    Bench(dualrpc_bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo and bench draw a progress bar and a table: only errors may interrupt them.
    let default_filter = match cli.command {
        Command::Demo(_) | Command::Bench(_) => "error",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // `serve` runs its workers on their own single-threaded runtimes; the main thread only
    // handles signals, reloads and the health loop. Everything else uses every core.
    let runtime = match &cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Sim(args) => dualrpc_sim::run_cli(args, shutdown_signal()).await,
            Command::Demo(args) => dualrpc_bench::demo(args).await,
            Command::Bench(args) => dualrpc_bench::bench(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
