//! Test fixtures shared by the report's unit tests: a sample run with a baseline, two
//! strategies, nginx and the oracle, and a unique scratch directory.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use crate::results::{ArmKind, ArmResult, BenchRun, MethodCounts};

/// An arm whose latencies are `n` copies of each `(µs, count)` pair.
fn arm(
    name: &str,
    kind: ArmKind,
    lat: &[(u64, u64)],
    ok: u64,
    failed: u64,
    stale: u64,
    calls: &[(&str, u64)],
) -> ArmResult {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for &(v, n) in lat {
        h.record_n(v, n).unwrap();
    }
    let requests = ok + failed + stale;
    ArmResult {
        name: name.to_string(),
        kind,
        latency_us: h,
        requests,
        ok,
        failed,
        stale,
        by_method: vec![
            (
                "getSlot".to_string(),
                MethodCounts {
                    requests: requests / 2,
                    ok: ok / 2,
                    stale: 0,
                    latency_sum_us: (requests / 2) * 20_000,
                    latencies_us: vec![10_000, 20_000, 30_000],
                },
            ),
            (
                "getTransaction".to_string(),
                MethodCounts {
                    requests: requests - requests / 2,
                    ok: ok - ok / 2,
                    stale,
                    ..MethodCounts::default()
                },
            ),
        ],
        upstream_calls: calls.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
        elapsed: Duration::from_secs(10),
    }
}

pub(super) fn sample_run() -> BenchRun {
    BenchRun {
        scenario: "steady".into(),
        scenario_description: "Three providers, one slow tail.".into(),
        seed: 7,
        duration: Duration::from_secs(10),
        endpoints: vec!["alpha".into(), "beta".into()],
        arms: vec![
            // mean 50 ms, p99 200 ms, 98% success.
            arm(
                "single (alpha)",
                ArmKind::Baseline,
                &[(40_000, 9_800), (200_000, 100), (540_000, 100)],
                9_800,
                150,
                50,
                &[("alpha", 10_000)],
            ),
            // mean 20 ms, p99 20 ms, all good, 2 calls/req.
            arm(
                "race",
                ArmKind::Strategy(dualrpc::Strategy::Race),
                &[(20_000, 10_000)],
                10_000,
                0,
                0,
                &[("alpha", 10_000), ("beta", 10_000)],
            ),
            // mean 30 ms, 1 failure, 1.1 calls/req.
            arm(
                "hedge",
                ArmKind::Strategy(dualrpc::Strategy::Hedge),
                &[(30_000, 10_000)],
                9_999,
                1,
                0,
                &[("alpha", 9_000), ("beta", 2_000)],
            ),
            arm(
                "nginx",
                ArmKind::Nginx,
                &[(45_000, 10_000)],
                9_990,
                10,
                0,
                &[("alpha", 5_100), ("beta", 5_000)],
            ),
            arm(
                "oracle",
                ArmKind::Oracle,
                &[(15_000, 10_000)],
                10_000,
                0,
                0,
                &[],
            ),
        ],
        command: "dualrpc bench --scenario steady".into(),
        machine: "test box, 2 cores".into(),
    }
}

pub(super) fn temp_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "dualrpc-report-{tag}-{}-{nanos}",
        std::process::id()
    ))
}
