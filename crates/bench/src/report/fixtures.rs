//! Test fixtures shared by the report's unit tests: a sample run with a baseline, two
//! strategies, nginx and the oracle, and a unique scratch directory.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use crate::results::{ArmKind, ArmResult, BenchRun, Detection, MethodCounts};

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
        detection: None,
    }
}

/// Detection of five launches, `missed` of them missed; the oracle detected them all, in 480,
/// 490, 500, 700 and 1000 ms.
fn detection(delays_ms: &[u64], missed: u64, late: u64) -> Option<Detection> {
    let us = |ms: &[u64]| ms.iter().map(|m| m * 1000).collect::<Vec<_>>();
    Some(Detection {
        poll_interval: Duration::from_millis(50),
        launches: delays_ms.len() as u64 + missed,
        grace: Duration::from_secs(2),
        delays_us: us(delays_ms),
        missed,
        late,
        oracle_delays_us: us(&[480, 490, 500, 700, 1000]),
        oracle_missed: 0,
    })
}

pub(super) fn sample_run() -> BenchRun {
    let mut run = BenchRun {
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
    };
    // Time to detect a launch (oracle median 500 ms): race 3 ms behind, hedge 10 ms, the
    // baseline 20 ms behind and missing one, nginx ahead but missing two.
    let detections = [
        detection(&[500, 520, 560, 900], 1, 1),
        detection(&[483, 493, 503, 703, 1003], 0, 0),
        detection(&[490, 500, 510, 710, 1010], 0, 0),
        detection(&[484, 495, 505], 2, 0),
    ];
    for (arm, d) in run.arms.iter_mut().zip(detections) {
        arm.detection = d;
    }
    let oracle = run.arms[1].detection.as_ref().map(Detection::oracle_view);
    run.arms[4].detection = oracle;
    run
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
