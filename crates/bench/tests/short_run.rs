//! A short benchmark run end to end: real simulated clusters, real gateways, the bot
//! workload, the oracle, the report on disk.

use std::sync::Arc;
use std::time::Duration;

use dualrpc::Strategy;
use dualrpc_bench::arms::{self, ArmSpec};
use dualrpc_bench::results::{ArmKind, BenchRun};
use dualrpc_bench::workload::WorkloadConfig;
use dualrpc_bench::{oracle, report};
use dualrpc_sim::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_bench_run_measures_every_arm_and_writes_the_report() {
    let profile = Profile::named("seed").unwrap();
    let workload = WorkloadConfig {
        duration: Duration::from_secs(2),
        poll_interval: Duration::from_millis(50),
        ..WorkloadConfig::default()
    };
    let specs = [
        ArmSpec::Baseline,
        ArmSpec::Strategy(Strategy::Race),
        ArmSpec::Strategy(Strategy::Failover),
    ];
    let mut results = arms::run_arms(&specs, &profile, 3, &workload, Arc::new(|_| {}))
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    for arm in &results {
        assert!(
            arm.requests >= 20,
            "{}: {} requests",
            arm.name,
            arm.requests
        );
        assert_eq!(
            arm.requests,
            arm.ok + arm.failed + arm.stale,
            "{}",
            arm.name
        );
        // Every sent request has a latency; only requests shed before sending have none.
        assert!(
            !arm.latency_us.is_empty() && arm.latency_us.len() <= arm.requests,
            "{}",
            arm.name
        );
        // 2 s is all grace period: no launch counts, but the bookkeeping is there.
        let detection = arm.detection.as_ref().expect("detection measured");
        assert_eq!(detection.launches, 0, "{}", arm.name);
        let methods: Vec<&str> = arm.by_method.iter().map(|(m, _)| m.as_str()).collect();
        assert!(
            methods.contains(&"getSignaturesForAddress") && methods.contains(&"getTransaction"),
            "{methods:?}"
        );
    }
    let single = &results[0];
    assert_eq!(single.kind, ArmKind::Baseline);
    assert_eq!(
        single.upstream_calls[1].1, 0,
        "the baseline never calls the second endpoint"
    );
    let race = &results[1];
    // Race sends every request to both endpoints (a poll never joins the previous poll's
    // flight, 50 ms old): about 2 calls per request, the same on each side.
    let (a, b) = (
        race.upstream_calls[0].1 as f64,
        race.upstream_calls[1].1 as f64,
    );
    assert!(
        (a - b).abs() <= 0.05 * a.max(b),
        "race calls both endpoints alike: {a} vs {b}"
    );
    let cpr = race.calls_per_request();
    assert!((1.5..=2.3).contains(&cpr), "{cpr}");
    assert!(
        race.utilisation().iter().all(|(_, u)| *u >= 0.75),
        "{:?}",
        race.utilisation()
    );

    results.push(oracle::oracle(&profile, 3, 10_000, workload.duration));
    let run = BenchRun {
        scenario: profile.name.clone(),
        scenario_description: profile.description.clone(),
        seed: 3,
        duration: workload.duration,
        endpoints: profile.endpoints.iter().map(|e| e.name.clone()).collect(),
        arms: results,
        command: "test".into(),
        machine: "test".into(),
    };
    let dir = std::env::temp_dir().join(format!("dualrpc-short-bench-{}", std::process::id()));
    let path = report::write_report(&dir, &run, &report::Targets::default()).unwrap();
    let md = std::fs::read_to_string(&path).unwrap();
    for name in ["single (alpha)", "race", "failover", "oracle"] {
        assert!(md.contains(name), "report lists {name}");
    }
    for svg in ["latency-cdf.svg", "utilisation.svg"] {
        let text = std::fs::read_to_string(dir.join(svg)).unwrap();
        assert!(text.contains("<svg") && text.contains("</svg>"), "{svg}");
    }
    assert!(report::render_table(&run).contains("race"));
    std::fs::remove_dir_all(&dir).ok();
}
