//! The seed's three use cases, with the library used in-process (no gateway):
//!
//! 1. signature polling — `getSignaturesForAddress` by `dual`, 100 ms;
//! 2. transaction fetching — `getTransaction` by `consensus`, 200 ms;
//! 3. token validation — `getAccountInfo` by `race`, 50 ms.
//!
//! It runs against simulated Solana endpoints (the `seed` profile: two providers of about
//! 50 ms and 98% success) started in-process, so it needs no network and no keys:
//!
//! ```text
//! cargo run -p dualrpc --example seed
//! ```

use std::time::Duration;

use dualrpc::{Config, Pool, Strategy};
use dualrpc_sim::{Cluster, ClusterOptions, Profile};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let profile = Profile::named("seed").expect("built-in profile");
    let cluster = Cluster::start(&profile, ClusterOptions::default()).await?;
    // In production these would be provider URLs from a config file (`Config::load`).
    let endpoints = cluster
        .endpoints()
        .iter()
        .map(|e| (e.name().to_string(), e.url()));
    let pool = Pool::from_config(Config::from_endpoints(endpoints)?)?;
    let program = cluster.chain().program_id();

    let mut seen = std::collections::HashSet::new();
    let (mut validated, mut rounds) = (0, 0);
    while validated < 5 && rounds < 50 {
        rounds += 1;
        // 1. Signature polling (balanced): dual, 100 ms.
        let sigs = match pool
            .call(
                "getSignaturesForAddress",
                &json!([program, {"limit": 5, "commitment": "confirmed"}]),
            )
            .strategy(Strategy::Dual)
            .timeout(Duration::from_millis(100))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                println!("poll failed: {e}");
                continue;
            }
        };
        let list: Vec<Value> = serde_json::from_str(sigs.result.get())?;
        println!(
            "getSignaturesForAddress via dual: {} signatures from {} in {:?} ({} attempts)",
            list.len(),
            sigs.endpoint,
            sigs.latency,
            sigs.attempts
        );
        for sig in list.iter().filter_map(|s| s["signature"].as_str()) {
            if !seen.insert(sig.to_string()) {
                continue;
            }
            // 2. Transaction fetching (reliability critical): consensus, 200 ms.
            let tx = pool
                .call("getTransaction", &json!([sig, {"encoding": "jsonParsed", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]))
                .strategy(Strategy::Consensus)
                .timeout(Duration::from_millis(200))
                .await;
            let tx = match tx {
                Ok(tx) => tx,
                Err(e) => {
                    println!("  getTransaction via consensus failed: {}", e.to_jsonrpc());
                    continue;
                }
            };
            let parsed: Value = serde_json::from_str(tx.result.get())?;
            let Some(mint) = parsed
                .pointer("/meta/postTokenBalances/0/mint")
                .and_then(Value::as_str)
            else {
                println!("  getTransaction via consensus: empty answer (no endpoint had it yet)");
                continue;
            };
            println!(
                "  getTransaction via consensus: mint {mint} agreed by 2 endpoints in {:?}",
                tx.latency
            );
            // 3. Token validation (speed critical): race, 50 ms.
            match pool
                .call(
                    "getAccountInfo",
                    &json!([mint, {"encoding": "jsonParsed", "commitment": "confirmed"}]),
                )
                .strategy(Strategy::Race)
                .timeout(Duration::from_millis(50))
                .await
            {
                Ok(acct) => {
                    let v: Value = serde_json::from_str(acct.result.get())?;
                    let supply = v
                        .pointer("/value/data/parsed/info/supply")
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    println!(
                        "  getAccountInfo via race: supply {supply}, won by {} in {:?}",
                        acct.endpoint, acct.latency
                    );
                    validated += 1;
                }
                Err(e) => println!(
                    "  getAccountInfo via race failed within 50 ms: {}",
                    e.to_jsonrpc()
                ),
            }
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let status = pool.status();
    for e in &status.endpoints {
        println!(
            "{}: {} wins, p50 {:.1} ms, p99 {:.1} ms, success ratio {:.3}",
            e.name,
            e.counts.wins,
            e.latency_p50_ms.unwrap_or(0.0),
            e.latency_p99_ms.unwrap_or(0.0),
            e.success_ratio
        );
    }
    cluster.shutdown().await;
    if validated == 0 {
        return Err("no mint was validated".into());
    }
    Ok(())
}
