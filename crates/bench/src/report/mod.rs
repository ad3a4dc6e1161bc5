//! The benchmark report: turns a [`BenchRun`] into `report.md` (claims checked against the
//! mission's targets, the results table, time to detect a launch, per-method counts and
//! latency), three SVG plots (`latency-cdf.svg`, `utilisation.svg`, `detection-cdf.svg`) and a
//! fixed-width terminal table for `dualrpc demo`.
//!
//! The readers run RPC proxies for a living, so the report never rounds a miss into a hit:
//! every claim names the arm that comes closest, its upstream cost, and what the baseline,
//! nginx and the oracle got on the same workload.
//!
//! # Layout
//!
//! - this module — the [`Targets`] a run is judged against and [`write_report`], which writes
//!   the three files;
//! - `markdown` — `report.md`: the run's header, the results table, per-method counts and the
//!   latency per method;
//! - `claims` — the claims section of `report.md`: each of the mission's claims checked on the
//!   best strategy arm, and which arm meets which;
//! - `cdf` — `latency-cdf.svg`: the latency CDF and the tail view (latency by percentile);
//! - `detection` — the *Time to detect a launch* section, its claim (h) and
//!   `detection-cdf.svg`, the CDF of detection delay per arm;
//! - `utilisation` — `utilisation.svg`: the share of client requests that reached each
//!   endpoint, per arm;
//! - `plots` — what both plots share: palette, arm colours, the keyed axis, legend and lines;
//! - `table` — [`render_table`], the fixed-width terminal table;
//! - `format` — numbers and table cells as both the terminal table and `report.md` show them.
//! - `fixtures` (tests only) — the sample run the unit tests share.

use std::io;
use std::path::{Path, PathBuf};

use crate::results::BenchRun;
use cdf::latency_svg;
use detection::detection_svg;
use markdown::render_markdown;
use utilisation::utilisation_svg;

mod cdf;
mod claims;
mod detection;
mod format;
mod markdown;
mod plots;
mod table;
mod utilisation;

#[cfg(test)]
mod fixtures;

pub use table::render_table;

/// The mission's promises, as numbers. [`Targets::default`] holds the mission's values; a
/// run is judged by comparing the best strategy arm with the (first) single-endpoint arm.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Mean latency must be at least this much lower than the single endpoint's (0.40: the
    /// low end of the promised "40–60% lower"; beating the high end still meets the claim).
    pub mean_reduction_min: f64,
    /// High end of the promised mean reduction (0.60), printed with the target.
    pub mean_reduction_max: f64,
    /// p99 latency must be at least this much lower than the single endpoint's (0.80).
    pub p99_reduction_min: f64,
    /// Mean latency must be below this (30 ms).
    pub mean_ms_max: f64,
    /// What the mission assumes one endpoint's mean is (50 ms); printed for context only.
    pub assumed_single_mean_ms: f64,
    /// Success rate must be above this (0.999).
    pub success_min: f64,
    /// What the mission assumes one endpoint's success rate is (0.98); context only.
    pub assumed_single_success: f64,
    /// The availability the mission starts from (0.9995); context only.
    pub availability_from: f64,
    /// Availability must reach this (0.9999).
    pub availability_min: f64,
    /// Every endpoint must receive more than this share of client requests (0.80).
    pub utilisation_min: f64,
    /// At most this many failed requests in normal operation (0).
    pub max_failed: u64,
    /// Median time to detect a launch may exceed the detection oracle's by at most this (5 ms).
    pub detection_gap_ms_max: f64,
    /// At most this many launches missed (0).
    pub max_missed_launches: u64,
    /// At most this many stale answers served (0).
    pub max_stale: u64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            mean_reduction_min: 0.40,
            mean_reduction_max: 0.60,
            p99_reduction_min: 0.80,
            mean_ms_max: 30.0,
            assumed_single_mean_ms: 50.0,
            success_min: 0.999,
            assumed_single_success: 0.98,
            availability_from: 0.9995,
            availability_min: 0.9999,
            utilisation_min: 0.80,
            max_failed: 0,
            detection_gap_ms_max: 5.0,
            max_missed_launches: 0,
            max_stale: 0,
        }
    }
}

/// Writes `report.md`, `latency-cdf.svg`, `utilisation.svg` and `detection-cdf.svg` into
/// `dir` (created if missing) and returns the path of `report.md`.
pub fn write_report(dir: &Path, run: &BenchRun, targets: &Targets) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("latency-cdf.svg"), latency_svg(run)?)?;
    std::fs::write(dir.join("detection-cdf.svg"), detection_svg(run)?)?;
    std::fs::write(dir.join("utilisation.svg"), utilisation_svg(run)?)?;
    let path = dir.join("report.md");
    std::fs::write(&path, render_markdown(run, targets))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::fixtures::{sample_run, temp_dir};
    use super::*;
    use std::time::Duration;

    #[test]
    fn writes_report_with_numbers_and_verdicts() {
        let run = sample_run();
        let dir = temp_dir("md");
        let path = write_report(&dir, &run, &Targets::default()).unwrap();
        let md = std::fs::read_to_string(&path).unwrap();
        let svg = std::fs::read_to_string(dir.join("detection-cdf.svg")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("Time to detect a launch"));

        assert!(md.contains("dualrpc bench --scenario steady"));
        assert!(md.contains("| seed | 7 |"));
        assert!(md.contains("![latency CDF](latency-cdf.svg)"));
        assert!(md.contains("![time to detect a launch](detection-cdf.svg)"));
        // Main table: race row with its numbers and utilisation.
        assert!(
            md.contains("| race | 10,000 | 20.0 | 20.0 | 20.0 | 20.0 | 20.0 | 100.000% | 0 | 0 | 2.00 | alpha 100% · beta 100% |"),
            "{md}"
        );
        assert!(md.contains("| single (alpha) | 10,000 |"));
        assert!(
            md.contains("| 98.000% | 150 | 50 | 1.00 | alpha 100% · beta 0% |"),
            "{md}"
        );
        // The oracle has no upstream calls.
        assert!(md.contains("| oracle | 10,000 | 15.0 |"));
        // Claims: race wins (a) with 20 ms vs the baseline's mean.
        let base_mean = run.arms[0].mean_ms();
        let reduction = (1.0 - 20.0 / base_mean) * 100.0;
        let line_a = md.lines().find(|l| l.starts_with("| a |")).unwrap();
        assert!(
            line_a.contains(&format!(
                "`race`: 20.0 ms ({reduction:.1}% lower) (2.00 calls/req)"
            )),
            "{line_a}"
        );
        assert!(line_a.contains("✅ met"));
        let line_c = md.lines().find(|l| l.starts_with("| c |")).unwrap();
        assert!(
            line_c.contains("✅ met") && line_c.contains("15.0 ms"),
            "{line_c}"
        );
        // (e) 99.99%: race has 100%.
        let line_e = md.lines().find(|l| l.starts_with("| e |")).unwrap();
        assert!(
            line_e.contains("`race`: 100.000%") && line_e.contains("✅ met"),
            "{line_e}"
        );
        // (f): race reaches both endpoints (100%), hedge only 20% of beta.
        let line_f = md.lines().find(|l| l.starts_with("| f |")).unwrap();
        assert!(line_f.contains("`race`: lowest 100% (alpha)"), "{line_f}");
        assert!(
            line_f.contains("lowest 0% (beta)"),
            "baseline leaves beta idle: {line_f}"
        );
        // (g): race has no failures.
        let line_g = md.lines().find(|l| l.starts_with("| g |")).unwrap();
        assert!(
            line_g.contains("`race`: 0 failed") && line_g.contains("10 failed"),
            "{line_g}"
        );
        // Per-strategy matrix: hedge (30 ms vs 46.6 ms, 1 failure, beta at 20%, detection 10 ms
        // behind the oracle) meets b, d, e.
        let hedge = md
            .lines()
            .find(|l| l.starts_with("| hedge | 1.10 |"))
            .unwrap();
        assert!(
            hedge.ends_with("| ✗ | ✓ | ✗ | ✓ | ✓ | ✗ | ✗ | ✗ | 3/8 |"),
            "{hedge}"
        );
        assert!(md.contains("Meeting every claim at once: race."));
        // Per method.
        assert!(md.contains("| `getTransaction` |"));
        assert!(md.contains("4,900/5,000 · 50 stale"), "{md}");
        assert!(md.contains("Latency per method"), "{md}");
    }

    #[test]
    fn empty_run_does_not_panic() {
        let run = BenchRun {
            scenario: "empty".into(),
            scenario_description: String::new(),
            seed: 0,
            duration: Duration::ZERO,
            endpoints: vec![],
            arms: vec![],
            command: String::new(),
            machine: String::new(),
        };
        let dir = temp_dir("empty");
        write_report(&dir, &run, &Targets::default()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(render_table(&run).starts_with("arm"));
    }
}
