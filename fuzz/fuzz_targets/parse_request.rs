//! Fuzzes the gateway's client request parser (`request::parse` through
//! `dualrpc_gateway::fuzzing::parse_request`) with arbitrary bytes.
//!
//! Invariants: it never panics; an `Ok` count is within `1..=MAX_BATCH`; an `Err` code is
//! -32700 (parse error) or -32600 (invalid request); and the outcome matches an independent
//! reading of the same bytes with `serde_json`: not UTF-8 or not one JSON value → -32700;
//! an array with 0 or more than `MAX_BATCH` elements → -32600; an array of n → Ok(n); any
//! other value → Ok(1).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

const MAX_BATCH: usize = 64;

/// What the parser should say about `data`, from `serde_json` alone.
fn oracle(data: &[u8]) -> Result<usize, i64> {
    let text = std::str::from_utf8(data).map_err(|_| -32700)?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|_| -32700)?;
    if !raw.get().starts_with('[') {
        return Ok(1);
    }
    let items: Vec<IgnoredAny> =
        serde_json::from_str(raw.get()).expect("a JSON array reads as a sequence");
    match items.len() {
        0 => Err(-32600),
        n if n > MAX_BATCH => Err(-32600),
        n => Ok(n),
    }
}

fuzz_target!(|data: &[u8]| {
    let got = dualrpc_gateway::fuzzing::parse_request(data, MAX_BATCH);
    match got {
        Ok(n) => assert!((1..=MAX_BATCH).contains(&n), "count {n} out of range"),
        Err(code) => assert!(code == -32700 || code == -32600, "unexpected code {code}"),
    }
    assert_eq!(
        got,
        oracle(data),
        "input: {:?}",
        String::from_utf8_lossy(data)
    );
});
