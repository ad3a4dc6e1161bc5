//! Time to detect a launch end to end: real simulated clusters on the `zero` profile (no
//! latency, no faults, no indexing delay), the bot direct and through the gateway, and the
//! detection oracle on each arm's polls.

use std::sync::Arc;
use std::time::Duration;

use dualrpc::Strategy;
use dualrpc_bench::arms::{self, ArmSpec};
use dualrpc_bench::results::BenchRun;
use dualrpc_bench::workload::WorkloadConfig;
use dualrpc_bench::{oracle, report};
use dualrpc_sim::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_launch_is_detected_and_none_before_it_is_confirmed() {
    let mut profile = Profile::named("zero").unwrap();
    profile.chain.signatures_per_second = 20.0;
    let workload = WorkloadConfig {
        duration: Duration::from_secs(3),
        poll_interval: Duration::from_millis(50),
        detection_grace: Duration::from_secs(1),
        ..WorkloadConfig::default()
    };
    let specs = [ArmSpec::Baseline, ArmSpec::Strategy(Strategy::Merge)];
    let mut results = arms::run_arms(&specs, &profile, 11, &workload, Arc::new(|_| {}))
        .await
        .unwrap();
    for arm in &results {
        let d = arm
            .detection
            .as_ref()
            .expect("every arm measures detection");
        // About 2 s of launches at 20 a second.
        assert!(d.launches >= 10, "{}: {} launches", arm.name, d.launches);
        assert_eq!(d.missed, 0, "{}: missed launches", arm.name);
        assert_eq!(d.delays_us.len() as u64, d.launches, "{}", arm.name);
        assert_eq!(d.oracle_missed, 0, "{}", arm.name);
        assert_eq!(arm.stale, 0, "{}: stale answers", arm.name);
        assert_eq!(d.poll_interval, workload.poll_interval);
        // `confirmed` shows a launch one 400 ms slot after its creation, not before.
        assert!(d.delays_us[0] >= 400_000, "{}: {:?}", arm.name, d.delays_us);
        // The oracle has no latency here, and the polls are aligned with the slots (a poll
        // every 50 ms from a multiple of 50 ms on the chain's clock, slots every 400 ms): it
        // validates each launch the instant its slot is confirmed.
        assert!(
            d.oracle_delays_us.iter().all(|us| *us == 400_000),
            "{}: {:?}",
            arm.name,
            d.oracle_delays_us
        );
        // Loose: a loaded 2-core machine still answers loopback calls well within a second.
        let median = d.quantile_ms(0.5).unwrap();
        assert!(median < 1_500.0, "{}: median {median} ms", arm.name);
    }

    // The report: the section, the plot, the oracle's row on the first arm's polls.
    let mut o = oracle::oracle(&profile, 11, 1_000, workload.duration);
    o.detection = results[0].detection.as_ref().map(|d| d.oracle_view());
    results.push(o);
    let run = BenchRun {
        scenario: profile.name.clone(),
        scenario_description: String::new(),
        seed: 11,
        duration: workload.duration,
        endpoints: profile.endpoints.iter().map(|e| e.name.clone()).collect(),
        arms: results,
        command: "test".into(),
        machine: "test".into(),
    };
    let dir = std::env::temp_dir().join(format!("dualrpc-detection-{}", std::process::id()));
    let path = report::write_report(&dir, &run, &report::Targets::default()).unwrap();
    let md = std::fs::read_to_string(&path).unwrap();
    let svg = std::fs::read_to_string(dir.join("detection-cdf.svg")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(md.contains("## Time to detect a launch"), "{md}");
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| arm | launches |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(rows.len(), 2 + 3, "{rows:#?}");
    assert!(rows[4].starts_with("| oracle |") && rows[4].contains("| 0 | — | 0 | — |"));
    for arm in &run.arms {
        assert!(svg.contains(&arm.name), "plot legend lacks {}", arm.name);
    }
}
