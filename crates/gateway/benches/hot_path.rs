//! Micro-benchmarks of the gateway's pieces on a request's path: reading the client's
//! request, writing the response (body spliced from the upstream's bytes, and headers).
//!
//! `cargo bench -p dualrpc-gateway --bench hot_path` measures; `cargo test --benches` (in
//! `scripts/test.sh`) runs each once, so they keep compiling and working.

use std::sync::Arc;
use std::time::Duration;

use divan::{Bencher, black_box};
use dualrpc::{Config, Pool, RawJson, Reply, Strategy};
use dualrpc_gateway::{Gateway, GatewayOptions};
use serde_json::value::RawValue;

fn main() {
    divan::main();
}

const SINGLE: &str = r#"{"jsonrpc":"2.0","id":42,"method":"getBalance","params":["4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",{"commitment":"processed"}]}"#;

#[divan::bench]
fn parse_single(bencher: Bencher) {
    assert_eq!(
        dualrpc_gateway::bench::parse_request(SINGLE.as_bytes(), 100),
        Ok(1)
    );
    bencher
        .bench_local(|| dualrpc_gateway::bench::parse_request(black_box(SINGLE.as_bytes()), 100));
}

#[divan::bench]
fn parse_batch_of_10(bencher: Bencher) {
    let batch = format!("[{}]", [SINGLE; 10].join(","));
    assert_eq!(
        dualrpc_gateway::bench::parse_request(batch.as_bytes(), 100),
        Ok(10)
    );
    bencher.bench_local(|| dualrpc_gateway::bench::parse_request(black_box(batch.as_bytes()), 100));
}

fn gateway() -> Gateway {
    let config: Config = "[health]\ninterval_ms = 0\n[[endpoint]]\nname = \"helius\"\nurl = \"http://127.0.0.1:9/\"\n"
        .parse()
        .expect("valid config");
    Gateway::new(
        Pool::from_config(config).expect("valid pool"),
        GatewayOptions::default(),
    )
}

fn reply(result: &str) -> Reply {
    Reply {
        result: RawJson::parse(result).expect("valid JSON"),
        endpoint: Arc::from("helius"),
        strategy: Strategy::Failover,
        attempts: 1,
        latency: Duration::from_millis(20),
        empty: false,
        cached: false,
        coalesced: false,
        agreement: None,
        slot: None,
        stale: None,
    }
}

/// A small result (copied into one buffer with the envelope) and a large one (sent from
/// the upstream's own buffer).
#[divan::bench(args = ["getBalance", "getTransaction"])]
fn respond(bencher: Bencher, method: &str) {
    let result = match method {
        "getBalance" => {
            r#"{"context":{"apiVersion":"2.2.0","slot":341197053},"value":1000000}"#.to_string()
        }
        _ => {
            let capture: serde_json::Value = serde_json::from_str(include_str!(
                "../../sim/fixtures/pumpfun_create_getTransaction_jsonParsed.json"
            ))
            .expect("valid capture");
            capture["result"].to_string()
        }
    };
    let gateway = gateway();
    let id = RawValue::from_string("42".into()).expect("valid JSON");
    let r = reply(&result);
    assert!(dualrpc_gateway::bench::respond(&gateway, &id, r.clone()) > result.len() as u64);
    bencher
        .with_inputs(|| r.clone())
        .bench_local_values(|r| dualrpc_gateway::bench::respond(&gateway, black_box(&id), r));
}
