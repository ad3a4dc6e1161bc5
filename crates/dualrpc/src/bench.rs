//! Entry points for the micro-benchmarks (`benches/hot_path.rs`): the pieces on a call's
//! path, reachable from outside the crate; not part of the supported API.

use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::catalog::{self, MethodName};
use crate::jsonrpc::{RawJson, Request};
use crate::outcome::Outcome;
use crate::pool::Pool;

/// Builds a call's upstream request body (method, params, id), as every call does once.
pub fn request(id: u64, method: &str, params: Option<&RawValue>) -> Bytes {
    Request::new(id, method, params).body
}

/// Classifies an upstream answer to request `id` of `method`; returns the outcome's label.
pub fn classify(body: &Bytes, id: u64, method: &str) -> &'static str {
    crate::endpoint::classify(body, id, catalog::lookup(method).empty).label()
}

/// Builds the selection plan of a call of `method` on `pool`; returns its length.
pub fn plan(pool: &Pool, method: &str) -> usize {
    let upstreams = pool.upstreams();
    crate::select::Plan::build(
        upstreams,
        method,
        catalog::lookup(method),
        crate::clock::now(),
    )
    .iter()
    .count()
}

/// Records one successful attempt of `method` on endpoint `endpoint` of `pool`, as every
/// settled attempt does (stats, breaker, histograms).
pub fn record(pool: &Pool, endpoint: usize, method: &str, latency: Duration) {
    let ep = &pool.upstreams().endpoints[endpoint];
    let info = catalog::lookup(method);
    let outcome = Outcome::Success {
        result: RawJson::parse("1").expect("valid JSON"),
        missing: 0,
    };
    ep.stats.record(
        crate::clock::now(),
        &MethodName::new(method, info),
        latency,
        &outcome,
    );
}
