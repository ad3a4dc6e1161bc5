//! Micro-benchmarks of the core's pieces on a call's path: building the upstream request,
//! classifying an answer (real agave and provider captures), building the selection plan,
//! recording an attempt's stats.
//!
//! `cargo bench -p dualrpc --bench hot_path` measures; `cargo test --benches` (in
//! `scripts/test.sh`) runs each once, so they keep compiling and working.

use std::time::Duration;

use bytes::Bytes;
use divan::{Bencher, black_box};
use dualrpc::{Config, Pool};
use serde_json::value::RawValue;

fn main() {
    divan::main();
}

/// A captured upstream answer, re-addressed to request id 7 and written compactly.
fn answer(capture: &str) -> Bytes {
    let mut v: serde_json::Value = serde_json::from_str(capture).expect("valid capture");
    v["id"] = 7.into();
    Bytes::from(serde_json::to_vec(&v).expect("serializable"))
}

const CAPTURES: [(&str, &str); 4] = [
    (
        "getBalance",
        r#"{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":341197053},"value":1000000},"id":1}"#,
    ),
    (
        "getSignatureStatuses",
        include_str!("../../sim/fixtures/agave_getSignatureStatuses.json"),
    ),
    (
        "getAccountInfo",
        include_str!("../../sim/fixtures/usdc_mint_getAccountInfo_jsonParsed.json"),
    ),
    (
        "getTransaction",
        include_str!("../../sim/fixtures/pumpfun_create_getTransaction_jsonParsed.json"),
    ),
];

#[divan::bench(args = CAPTURES.map(|c| c.0))]
fn classify(bencher: Bencher, method: &str) {
    let capture = CAPTURES.iter().find(|c| c.0 == method).expect("listed").1;
    let body = answer(capture);
    assert_eq!(dualrpc::bench::classify(&body, 7, method), "success");
    bencher.bench_local(|| dualrpc::bench::classify(black_box(&body), 7, method));
}

#[divan::bench]
fn request_body(bencher: Bencher) {
    let params = RawValue::from_string(
        r#"["4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",{"commitment":"processed"}]"#.into(),
    )
    .expect("valid JSON");
    bencher.bench_local(|| dualrpc::bench::request(black_box(7), "getBalance", Some(&params)));
}

fn pool(endpoints: usize) -> Pool {
    let mut toml = String::from("[health]\ninterval_ms = 0\n");
    for i in 0..endpoints {
        toml.push_str(&format!(
            "[[endpoint]]\nname = \"e{i}\"\nurl = \"http://127.0.0.1:9/{i}\"\n"
        ));
    }
    let config: Config = toml.parse().expect("valid config");
    Pool::from_config(config).expect("valid pool")
}

#[divan::bench(args = [1, 3, 8])]
fn plan_build(bencher: Bencher, endpoints: usize) {
    let pool = pool(endpoints);
    for i in 0..endpoints {
        dualrpc::bench::record(
            &pool,
            i,
            "getAccountInfo",
            Duration::from_millis(20 + i as u64),
        );
    }
    assert_eq!(dualrpc::bench::plan(&pool, "getAccountInfo"), endpoints);
    bencher.bench_local(|| dualrpc::bench::plan(&pool, black_box("getAccountInfo")));
}

#[divan::bench]
fn stats_record(bencher: Bencher) {
    let pool = pool(1);
    bencher.bench_local(|| {
        dualrpc::bench::record(
            &pool,
            0,
            black_box("getAccountInfo"),
            Duration::from_millis(20),
        )
    });
}
