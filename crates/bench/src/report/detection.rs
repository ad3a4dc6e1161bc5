//! Time to detect a launch in the report: the *Time to detect a launch* section of
//! `report.md` (per arm: launches, median, p99, missed, seen late and stale answers served,
//! beside the detection oracle on the same polls), claim (h) of the claims table, and
//! `detection-cdf.svg`, the CDF of detection delay per arm.

use std::fmt::Write as _;
use std::io;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Targets;
use super::claims::{Better, Claim, Measure};
use super::format::{cell, fmt_axis_ms, secs, thousands, trim_float};
use super::plots::{KeyedAxis, arm_colors, draw_legend, draw_line, plot_err};
use crate::results::{ArmKind, ArmResult, BenchRun, Detection};

/// Claim (h): median time to detect a launch within `detection_gap_ms_max` of the oracle's on
/// the same polls, no launch missed, no stale answer served.
pub(super) fn detection_claim(t: &Targets) -> Claim<'_> {
    Claim {
        key: "h",
        claim: "launches detected as fast as the best provider shows them",
        target: format!(
            "median ≤ oracle + {} ms, {} missed, {} stale",
            trim_float(t.detection_gap_ms_max),
            t.max_missed_launches,
            t.max_stale
        ),
        better: Better::Lower,
        measure: Box::new(move |arm: &ArmResult| measure(arm, t)),
        met: Box::new(move |gap| gap <= t.detection_gap_ms_max),
    }
}

/// The arm's median gap to the oracle; missed launches and stale answers beyond the target
/// are violations. `None` where nothing was measured.
fn measure(arm: &ArmResult, t: &Targets) -> Option<Measure> {
    let d = arm.detection.as_ref().filter(|d| d.launches > 0)?;
    let violations =
        d.missed.saturating_sub(t.max_missed_launches) + arm.stale.saturating_sub(t.max_stale);
    let (value, gap) = match d.median_gap_ms() {
        Some(g) => (g, format!("median {g:+.1} ms vs oracle")),
        None => (f64::INFINITY, "nothing detected".to_string()),
    };
    Some(Measure {
        value,
        shown: format!(
            "{gap}, {} missed, {} stale",
            thousands(d.missed),
            thousands(arm.stale)
        ),
        violations,
    })
}

/// `✅ met`, or `❌` and what misses the target.
fn verdict(arm: &ArmResult, d: &Detection, t: &Targets) -> String {
    let mut misses = Vec::new();
    match d.median_gap_ms() {
        Some(g) if g > t.detection_gap_ms_max => misses.push(format!("median {g:+.1} ms")),
        None if d.launches > 0 => misses.push("nothing detected".to_string()),
        _ => {}
    }
    if d.missed > t.max_missed_launches {
        misses.push(format!("{} missed", thousands(d.missed)));
    }
    if arm.stale > t.max_stale {
        misses.push(format!("{} stale", thousands(arm.stale)));
    }
    if d.launches == 0 {
        "— no launches".to_string()
    } else if misses.is_empty() {
        "✅ met".to_string()
    } else {
        format!("❌ {}", misses.join(", "))
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.1}"))
}

/// Detection median / p99 in ms and missed launches, as the terminal table shows them.
pub(super) fn detection_cells(arm: &ArmResult) -> [String; 3] {
    match &arm.detection {
        Some(d) => [
            ms(d.quantile_ms(0.5)),
            ms(d.quantile_ms(0.99)),
            thousands(d.missed),
        ],
        None => ["—".to_string(), "—".to_string(), "—".to_string()],
    }
}

/// The `## Time to detect a launch` section (nothing if no arm measured it).
pub(super) fn detection_section(md: &mut String, run: &BenchRun, t: &Targets) {
    let arms: Vec<(&ArmResult, &Detection)> = run
        .arms
        .iter()
        .filter_map(|a| a.detection.as_ref().map(|d| (a, d)))
        .collect();
    let Some((_, first)) = arms.first() else {
        return;
    };
    let poll_ms = first.poll_interval.as_millis();
    let _ = writeln!(md, "## Time to detect a launch\n");
    let _ = writeln!(
        md,
        "From a launch's creation on the sim chain (the start of its slot) to the bot validating \
         its mint: signature listed by a `getSignaturesForAddress` poll (every {poll_ms} ms) → \
         transaction fetched → the mint's account read, all at `confirmed`. The launches are \
         every launchpad transaction created during the measured period except its last {} (so \
         every arm had time to see them). Every arm polls at the same instants relative to the \
         slots (multiples of {poll_ms} ms on its chain's clock). The *oracle* polls at those \
         instants too and, at each, asks the provider that already shows the launch at \
         `confirmed` when its list answer leaves (from the sim's own record of when each \
         provider could first show it; the sim answers as of that instant) and answers the \
         three calls fastest (latency draws from the same models × the correlated slowdown; a \
         provider whose draw fails is out at that poll); its detection is the earliest over \
         the polls. Each arm is compared with the oracle on its own polls and launches; the \
         oracle's row is the first arm's.\n",
        secs(first.grace)
    );
    let _ = writeln!(
        md,
        "| arm | launches | median | p99 | oracle median | vs oracle | missed | seen late | stale served | target |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    for (arm, d) in &arms {
        let oracle = arm.kind == ArmKind::Oracle;
        let dash = || "—".to_string();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&arm.name),
            thousands(d.launches),
            ms(d.quantile_ms(0.5)),
            ms(d.quantile_ms(0.99)),
            if oracle {
                dash()
            } else {
                ms(d.oracle_quantile_ms(0.5))
            },
            match d.median_gap_ms() {
                Some(g) if !oracle => format!("{g:+.1}"),
                _ => dash(),
            },
            thousands(d.missed),
            if oracle { dash() } else { thousands(d.late) },
            thousands(arm.stale),
            if oracle { dash() } else { verdict(arm, d, t) },
        );
    }
    let fewest = arms.iter().map(|(_, d)| d.launches).min().unwrap_or(0);
    let _ = writeln!(
        md,
        "\nTimes in ms. *median* and *p99* are over the launches the arm detected; *missed* = \
         never validated by the end of the run (never listed, or its transaction or account \
         read failed or came back stale: the bot does not retry); *seen late* = detected more \
         than one poll interval ({poll_ms} ms) after the oracle; *stale served* = every stale \
         answer of the arm's run, all methods. Target (claim h): median within {} ms of the \
         oracle's, {} missed, {} stale answers served.",
        trim_float(t.detection_gap_ms_max),
        t.max_missed_launches,
        t.max_stale
    );
    if fewest > 0 && fewest < 100 {
        let _ = writeln!(
            md,
            "With {} launches (fewest per arm), p99 is the slowest launch or nearly; run longer \
             or raise `--launch-rate` for a steadier tail.",
            thousands(fewest)
        );
    }
    let _ = writeln!(
        md,
        "The oracle uses one provider for all three calls and sees no network, gateway or \
         client cost; an arm that races each call can take a different provider per call and \
         so come out slightly ahead of it (a negative *vs oracle*).\n"
    );
    let _ = writeln!(md, "![time to detect a launch](detection-cdf.svg)\n");
    let _ = writeln!(
        md,
        "Share of launches detected within *x* ms of their creation, per arm (log scale); a \
         line that ends below 100% is an arm that missed launches. The dashed line is the \
         oracle.\n"
    );
}

/// Renders `detection-cdf.svg`: the CDF of detection delay per arm.
pub(super) fn detection_svg(run: &BenchRun) -> io::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let arms: Vec<(&ArmResult, &Detection, RGBColor)> = run
            .arms
            .iter()
            .zip(arm_colors(run))
            .filter_map(|(a, c)| {
                let d = a.detection.as_ref().filter(|d| !d.delays_us.is_empty())?;
                Some((a, d, c))
            })
            .collect();
        if arms.is_empty() {
            root.titled("no launches detected", ("sans-serif", 20))
                .map_err(plot_err)?;
        } else {
            draw_cdf(&root, &arms)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Tick values for a log axis over `lo..hi`: the densest of three 1-2-5-like series that gives
/// at most ten ticks (plotters' own log axis labels only powers of ten, and detection delays
/// often span less than one decade).
fn log_keys(lo: f64, hi: f64) -> Vec<f64> {
    const SERIES: [&[f64]; 3] = [
        &[
            1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.2, 2.5, 2.8, 3.0, 3.5, 4.0, 4.5, 5.0,
            5.5, 6.0, 7.0, 8.0, 9.0,
        ],
        &[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        &[1.0, 2.0, 5.0],
    ];
    let keys = |series: &[f64]| -> Vec<f64> {
        let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (first..=last)
            .flat_map(|e| series.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    SERIES
        .iter()
        .map(|s| keys(s))
        .find(|k| k.len() <= 10)
        .unwrap_or_default()
}

fn draw_cdf(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    arms: &[(&ArmResult, &Detection, RGBColor)],
) -> io::Result<()> {
    let all = || arms.iter().flat_map(|(_, d, _)| &d.delays_us);
    let min_ms = all().min().copied().unwrap_or(1) as f64 / 1e3;
    let max_ms = all().max().copied().unwrap_or(1) as f64 / 1e3;
    let lo = (min_ms * 0.95).max(0.001);
    let hi = (max_ms * 1.05).max(lo * 1.5);
    // The x axis is ln(ms) on a keyed linear axis: a log scale with ticks where we want them.
    let mut chart = ChartBuilder::on(area)
        .caption("Time to detect a launch", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(
            KeyedAxis {
                range: lo.ln()..hi.ln(),
                keys: log_keys(lo, hi).into_iter().map(f64::ln).collect(),
            },
            0f64..1f64,
        )
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("creation → mint validated (ms, log scale)")
        .y_desc("share of launches detected")
        .x_label_formatter(&|x| fmt_axis_ms(x.exp()))
        .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .draw()
        .map_err(plot_err)?;
    const STEPS: usize = 300;
    for (arm, d, color) in arms {
        let launches = d.launches.max(d.delays_us.len() as u64) as f64;
        let points: Vec<(f64, f64)> = (0..=STEPS)
            .map(|i| {
                let x = lo.ln() + (hi.ln() - lo.ln()) * i as f64 / STEPS as f64;
                let within = d
                    .delays_us
                    .partition_point(|us| (*us as f64) <= x.exp() * 1e3);
                (x, within as f64 / launches)
            })
            .collect();
        draw_line(&mut chart, arm, *color, points)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::sample_run;
    use super::super::markdown::render_markdown;
    use super::super::render_table;
    use super::*;

    fn line<'a>(md: &'a str, start: &str) -> &'a str {
        md.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_default()
    }

    #[test]
    fn section_rows_verdicts_and_claim() {
        let run = sample_run();
        let md = render_markdown(&run, &Targets::default());
        assert!(md.contains("## Time to detect a launch") && md.contains("except its last 2 s"));
        let rows = [
            "| single (alpha) | 5 | 520.0 | 900.0 | 500.0 | +20.0 | 1 | 1 | 50 | ❌ median +20.0 ms, 1 missed, 50 stale |",
            "| race | 5 | 503.0 | 1003.0 | 500.0 | +3.0 | 0 | 0 | 0 | ✅ met |",
            "| hedge | 5 | 510.0 | 1010.0 | 500.0 | +10.0 | 0 | 0 | 0 | ❌ median +10.0 ms |",
            "| nginx | 5 | 495.0 | 505.0 | 500.0 | -5.0 | 2 | 0 | 0 | ❌ 2 missed |",
            "| oracle | 5 | 500.0 | 1000.0 | — | — | 0 | — | 0 | — |",
        ];
        for row in rows {
            assert!(md.contains(row), "{row}\n{md}");
        }
        assert!(md.contains("With 5 launches"), "small samples are flagged");
        let h = line(&md, "| h |");
        assert!(
            h.contains("`race`: median +3.0 ms vs oracle, 0 missed, 0 stale (2.00 calls/req)")
                && h.contains("median +20.0 ms vs oracle, 1 missed, 50 stale")
                && h.ends_with("✅ met |"),
            "{h}"
        );
        assert!(
            line(&md, "| race | 2.00 |").ends_with("| ✓ | 8/8 |"),
            "{md}"
        );
    }

    #[test]
    fn an_arm_that_misses_ranks_below_one_that_is_slower() {
        let mut run = sample_run();
        // race: 1 ms behind the oracle, but one launch missed; hedge 10 ms behind, none missed.
        let race = run.arms[1].detection.as_mut().unwrap();
        race.delays_us = vec![481_000, 491_000, 501_000, 701_000];
        race.missed = 1;
        let md = render_markdown(&run, &Targets::default());
        let h = line(&md, "| h |");
        assert!(
            h.contains("`hedge`: median +10.0 ms") && h.ends_with("❌ not met |"),
            "{h}"
        );
        assert!(
            md.contains("| race | 5 | 491.0 | 701.0 | 500.0 | -9.0 | 1 | 0 | 0 | ❌ 1 missed |")
        );
        // A looser target lets hedge meet it.
        let loose = Targets {
            detection_gap_ms_max: 10.0,
            ..Targets::default()
        };
        let md = render_markdown(&run, &loose);
        assert!(line(&md, "| h |").ends_with("✅ met |"));
    }

    #[test]
    fn plot_and_terminal_columns() {
        let run = sample_run();
        let svg = detection_svg(&run).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for arm in &run.arms {
            assert!(svg.contains(&arm.name), "legend lacks {}", arm.name);
        }
        let table = render_table(&run);
        let header = table.lines().next().unwrap();
        assert!(header.contains("detect p50") && header.contains("missed"));
        let race = line(&table, "race");
        assert!(race.contains("503.0") && race.contains("1003.0"), "{table}");
        assert_eq!(log_keys(380.0, 570.0), vec![400.0, 450.0, 500.0, 550.0]);
        assert_eq!(
            log_keys(400.0, 4_000.0),
            vec![
                400.0, 500.0, 600.0, 700.0, 800.0, 1_000.0, 1_500.0, 2_000.0, 3_000.0, 4_000.0
            ]
        );
        let mut none = run.clone();
        none.arms.iter_mut().for_each(|a| a.detection = None);
        assert!(!render_markdown(&none, &Targets::default()).contains("## Time to detect"));
        assert!(
            detection_svg(&none)
                .unwrap()
                .contains("no launches detected")
        );
    }
}
