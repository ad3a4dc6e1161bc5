//! The benchmark report: turns a [`BenchRun`] into `report.md` (claims checked against the
//! mission's targets, the results table, per-method counts, gateway overhead), two SVG plots
//! (`latency-cdf.svg`, `utilisation.svg`) and a fixed-width terminal table for `dualrpc demo`.
//!
//! The readers run RPC proxies for a living, so the report never rounds a miss into a hit:
//! every claim names the arm that comes closest, its upstream cost, and what the baseline,
//! nginx and the oracle got on the same workload.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::results::{ArmKind, ArmResult, BenchRun};

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
        }
    }
}

/// Writes `report.md`, `latency-cdf.svg` and `utilisation.svg` into `dir` (created if
/// missing) and returns the path of `report.md`.
pub fn write_report(dir: &Path, run: &BenchRun, targets: &Targets) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("latency-cdf.svg"), latency_svg(run)?)?;
    std::fs::write(dir.join("utilisation.svg"), utilisation_svg(run)?)?;
    let path = dir.join("report.md");
    std::fs::write(&path, render_markdown(run, targets))?;
    Ok(path)
}

/// A compact fixed-width table (one row per arm, the same columns as the report's main
/// table) for the terminal.
pub fn render_table(run: &BenchRun) -> String {
    let header: Vec<String> = [
        "arm",
        "requests",
        "mean",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "success",
        "failed",
        "stale",
        "calls/req",
        "utilisation",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<Vec<String>> = run
        .arms
        .iter()
        .map(|arm| {
            let mut row = vec![arm.name.clone(), thousands(arm.requests)];
            row.extend(latency_cells(arm));
            row.extend([
                pct3(arm.success_rate()),
                thousands(arm.failed),
                thousands(arm.stale),
                calls_cell(arm),
                utilisation_cell(arm, &run.endpoints),
            ]);
            row
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            // Names and the utilisation list read left to right; numbers line up on the right.
            let left = c == 0 || c == cells.len() - 1;
            if c > 0 {
                out.push_str("  ");
            }
            if left {
                out.push_str(cell);
                if c != cells.len() - 1 {
                    out.push_str(&" ".repeat(pad));
                }
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&header);
    let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
    }
    out.push_str("latency in ms; success = usable answers / requests; utilisation = share of requests that reached each endpoint\n");
    out
}

// ---------------------------------------------------------------------------------------
// Markdown

fn render_markdown(run: &BenchRun, targets: &Targets) -> String {
    let mut md = String::new();
    let base = run.arms.iter().find(|a| a.kind == ArmKind::Baseline);

    let _ = writeln!(md, "# dualrpc benchmark — scenario `{}`\n", run.scenario);
    if !run.scenario_description.is_empty() {
        let _ = writeln!(md, "{}\n", run.scenario_description.trim());
    }
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| command | `{}` |", run.command.replace('`', "'"));
    let _ = writeln!(md, "| machine | {} |", cell(&run.machine));
    let _ = writeln!(md, "| report written | {} |", utc_now());
    let _ = writeln!(md, "| scenario | `{}` |", run.scenario);
    let _ = writeln!(md, "| seed | {} |", run.seed);
    let _ = writeln!(md, "| measured per arm | {} |", secs(run.duration));
    let _ = writeln!(md, "| endpoints | {} |", run.endpoints.join(", "));
    let _ = writeln!(
        md,
        "| arms | {} |\n",
        run.arms
            .iter()
            .map(|a| cell(&a.name))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let _ = writeln!(
        md,
        "All arms ran the same workload side by side, each against its own simulated cluster built from the same profile and seed (same chain, same latency models, slowdowns at the same moments)."
    );
    let _ = writeln!(
        md,
        "*Baseline* is direct calls to one endpoint{}; *nginx* is nginx as a failover reverse proxy \
         (`proxy_next_upstream` over all endpoints); *oracle* is computed, not measured: a perfect \
         chooser of the fastest endpoint for every call, the ceiling for any single-call strategy.\n",
        base.map(|b| format!(" (`{}`)", b.name)).unwrap_or_default()
    );

    claims_section(&mut md, run, targets, base);
    results_section(&mut md, run);
    methods_section(&mut md, run);
    overhead_section(&mut md, run);
    md
}

fn results_section(md: &mut String, run: &BenchRun) {
    let _ = writeln!(md, "## Results\n");
    let _ = writeln!(
        md,
        "| arm | requests | mean | p50 | p90 | p99 | p99.9 | success | failed | stale served | upstream calls/request | utilisation per endpoint |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    for arm in &run.arms {
        let lat = latency_cells(arm);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&arm.name),
            thousands(arm.requests),
            lat[0],
            lat[1],
            lat[2],
            lat[3],
            lat[4],
            pct3(arm.success_rate()),
            thousands(arm.failed),
            thousands(arm.stale),
            calls_cell(arm),
            utilisation_cell(arm, &run.endpoints),
        );
    }
    let _ = writeln!(
        md,
        "\nLatencies in ms over every completed request, failed ones included. *success* = usable \
         answers ÷ requests (failed and stale answers count against it). *stale served* = answers \
         that were empty or stale although the chain had the data. *upstream calls/request* is the \
         cost an arm puts on the providers (rate limits, credits). *utilisation* = upstream calls \
         to that endpoint ÷ client requests: the share of requests that reached it.\n"
    );
    let _ = writeln!(md, "![latency CDF](latency-cdf.svg)\n");
    let _ = writeln!(
        md,
        "Left: the CDF (share of requests answered within *x* ms, log scale). Right: the tail view — \
         latency at each percentile, with the percentile axis stretched so that p90, p99, p99.9 \
         and p99.99 get equal room; a CDF squeezes everything past p99 into its top 1%, and the \
         tail is where the strategies differ. Lines stop where an arm has too few samples for \
         that percentile.\n"
    );
    let _ = writeln!(md, "![utilisation per endpoint](utilisation.svg)\n");
    let _ = writeln!(
        md,
        "Share of client requests that reached each endpoint, per arm (arms without upstream \
         calls, such as the oracle, are left out). The dashed line is the 80% target.\n"
    );
}

fn methods_section(md: &mut String, run: &BenchRun) {
    let mut methods: Vec<&str> = Vec::new();
    for arm in &run.arms {
        for (m, _) in &arm.by_method {
            if !methods.contains(&m.as_str()) {
                methods.push(m);
            }
        }
    }
    if methods.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Per method\n");
    let _ = writeln!(
        md,
        "Each cell: usable answers / requests, then stale answers if any.\n"
    );
    let _ = write!(md, "| method |");
    for arm in &run.arms {
        let _ = write!(md, " {} |", cell(&arm.name));
    }
    let _ = write!(md, "\n|---|");
    for _ in &run.arms {
        let _ = write!(md, "--:|");
    }
    md.push('\n');
    for m in methods {
        let _ = write!(md, "| `{m}` |");
        for arm in &run.arms {
            match arm.by_method.iter().find(|(n, _)| n == m) {
                Some((_, c)) if c.stale > 0 => {
                    let _ = write!(
                        md,
                        " {}/{} · {} stale |",
                        thousands(c.ok),
                        thousands(c.requests),
                        thousands(c.stale)
                    );
                }
                Some((_, c)) => {
                    let _ = write!(md, " {}/{} |", thousands(c.ok), thousands(c.requests));
                }
                None => md.push_str(" — |"),
            }
        }
        md.push('\n');
    }
    md.push('\n');
}

fn overhead_section(md: &mut String, run: &BenchRun) {
    let Some(o) = &run.overhead else { return };
    let _ = writeln!(md, "## Gateway overhead\n");
    let _ = writeln!(
        md,
        "Measured against a zero-latency upstream, {} requests per path, so the difference is the \
         gateway's own cost (parsing, strategy, one extra local hop).\n",
        thousands(o.requests)
    );
    let _ = writeln!(
        md,
        "| | direct | through gateway | added |\n|---|--:|--:|--:|"
    );
    let _ = writeln!(
        md,
        "| p50 | {:.0} µs | {:.0} µs | {:+.0} µs |",
        o.direct_p50_us,
        o.gateway_p50_us,
        o.gateway_p50_us - o.direct_p50_us
    );
    let _ = writeln!(
        md,
        "| p99 | {:.0} µs | {:.0} µs | {:+.0} µs |",
        o.direct_p99_us,
        o.gateway_p99_us,
        o.gateway_p99_us - o.direct_p99_us
    );
    let _ = writeln!(
        md,
        "\nThroughput: **{} requests/s on one core** (single-threaded runtime) with {} concurrent clients.\n",
        thousands(o.gateway_rps_one_core.round() as u64),
        o.concurrency
    );
}

// ---------------------------------------------------------------------------------------
// Claims

#[derive(Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// One arm's value for one claim: the number compared, and how it is shown.
struct Measure {
    value: f64,
    shown: String,
}

/// Measures one arm for one claim; `None` where the claim does not apply (e.g. utilisation of
/// the oracle, which calls no endpoint).
type MeasureFn<'a> = Box<dyn Fn(&ArmResult) -> Option<Measure> + 'a>;

/// One claim of the mission, measurable on any arm.
struct Claim<'a> {
    key: &'static str,
    claim: &'static str,
    target: String,
    better: Better,
    measure: MeasureFn<'a>,
    met: Box<dyn Fn(f64) -> bool + 'a>,
}

fn claims<'a>(run: &'a BenchRun, t: &'a Targets, base: Option<&'a ArmResult>) -> Vec<Claim<'a>> {
    // Relative latency: shown as the arm's own value plus how it compares with the baseline;
    // the baseline's own cell just shows its value.
    let relative = move |q: Option<f64>| {
        move |arm: &ArmResult| -> Option<Measure> {
            let b = base?;
            let lat = |a: &ArmResult| match q {
                Some(q) => a.quantile_ms(q),
                None => a.mean_ms(),
            };
            if arm.latency_us.is_empty() || b.latency_us.is_empty() || lat(b) <= 0.0 {
                return None;
            }
            let r = 1.0 - lat(arm) / lat(b);
            let shown = if std::ptr::eq(arm, b) {
                format!("{:.1} ms", lat(arm))
            } else if r >= 0.0 {
                format!("{:.1} ms ({:.1}% lower)", lat(arm), r * 100.0)
            } else {
                format!("{:.1} ms ({:.1}% higher)", lat(arm), -r * 100.0)
            };
            Some(Measure { value: r, shown })
        }
    };
    let success = |arm: &ArmResult| {
        (arm.requests > 0).then(|| Measure {
            value: arm.success_rate(),
            shown: pct3(arm.success_rate()),
        })
    };
    vec![
        Claim {
            key: "a",
            claim: "mean latency 40–60% lower than one endpoint",
            target: format!(
                "≥ {:.0}% lower (promised {:.0}–{:.0}%)",
                t.mean_reduction_min * 100.0,
                t.mean_reduction_min * 100.0,
                t.mean_reduction_max * 100.0
            ),
            better: Better::Higher,
            measure: Box::new(relative(None)),
            met: Box::new(move |r| r >= t.mean_reduction_min),
        },
        Claim {
            key: "b",
            claim: "p99 latency 80% lower",
            target: format!("≥ {:.0}% lower", t.p99_reduction_min * 100.0),
            better: Better::Higher,
            measure: Box::new(relative(Some(0.99))),
            met: Box::new(move |r| r >= t.p99_reduction_min),
        },
        Claim {
            key: "c",
            claim: "mean latency under 30 ms",
            target: format!(
                "< {:.0} ms (one endpoint assumed ~{:.0} ms)",
                t.mean_ms_max, t.assumed_single_mean_ms
            ),
            better: Better::Lower,
            measure: Box::new(|arm: &ArmResult| {
                (!arm.latency_us.is_empty()).then(|| Measure {
                    value: arm.mean_ms(),
                    shown: format!("{:.1} ms", arm.mean_ms()),
                })
            }),
            met: Box::new(move |v| v < t.mean_ms_max),
        },
        Claim {
            key: "d",
            claim: "success rate above 99.9%",
            target: format!(
                "> {} (one endpoint assumed ~{})",
                pct_short(t.success_min),
                pct_short(t.assumed_single_success)
            ),
            better: Better::Higher,
            measure: Box::new(success),
            met: Box::new(move |v| v > t.success_min),
        },
        Claim {
            key: "e",
            claim: "availability 99.95% → 99.99%",
            target: format!(
                "≥ {} (from {})",
                pct_short(t.availability_min),
                pct_short(t.availability_from)
            ),
            better: Better::Higher,
            measure: Box::new(success),
            met: Box::new(move |v| v >= t.availability_min),
        },
        Claim {
            key: "f",
            claim: "over 80% utilisation of every endpoint",
            target: format!("every endpoint > {:.0}%", t.utilisation_min * 100.0),
            better: Better::Higher,
            measure: Box::new(move |arm: &ArmResult| {
                if arm.upstream_calls.is_empty() || run.endpoints.is_empty() {
                    return None;
                }
                let util = arm.utilisation();
                let (name, min) = run
                    .endpoints
                    .iter()
                    .map(|e| {
                        (
                            e,
                            util.iter().find(|(n, _)| n == e).map_or(0.0, |(_, u)| *u),
                        )
                    })
                    .min_by(|a, b| a.1.total_cmp(&b.1))?;
                Some(Measure {
                    value: min,
                    shown: format!("lowest {:.0}% ({name})", min * 100.0),
                })
            }),
            met: Box::new(move |v| v > t.utilisation_min),
        },
        Claim {
            key: "g",
            claim: "no timeout failures in normal operation",
            target: format!("≤ {} failed requests", t.max_failed),
            better: Better::Lower,
            measure: Box::new(|arm: &ArmResult| {
                (arm.requests > 0).then(|| Measure {
                    value: arm.failed as f64,
                    shown: format!("{} failed", thousands(arm.failed)),
                })
            }),
            met: Box::new(move |v| v <= t.max_failed as f64),
        },
    ]
}

/// The strategy arm that does best on `claim`; among equals, the one with the lowest upstream
/// cost, since that is the one an operator would pick.
fn best_arm<'r>(run: &'r BenchRun, claim: &Claim<'_>) -> Option<(&'r ArmResult, Measure)> {
    run.arms
        .iter()
        .filter(|a| matches!(a.kind, ArmKind::Strategy(_)))
        .filter_map(|a| (claim.measure)(a).map(|m| (a, m)))
        .min_by(|(a, ma), (b, mb)| {
            let by_value = match claim.better {
                Better::Higher => mb.value.total_cmp(&ma.value),
                Better::Lower => ma.value.total_cmp(&mb.value),
            };
            by_value.then(a.calls_per_request().total_cmp(&b.calls_per_request()))
        })
}

fn claims_section(md: &mut String, run: &BenchRun, targets: &Targets, base: Option<&ArmResult>) {
    let list = claims(run, targets, base);
    let nginx = run.arms.iter().find(|a| a.kind == ArmKind::Nginx);
    let oracle = run.arms.iter().find(|a| a.kind == ArmKind::Oracle);
    let shown = |arm: Option<&ArmResult>, c: &Claim<'_>| {
        arm.and_then(|a| (c.measure)(a))
            .map_or_else(|| "n/a".to_string(), |m| m.shown)
    };

    let _ = writeln!(md, "## Claims\n");
    let _ = writeln!(
        md,
        "Each claim is checked on the strategy arm that does best on it, compared with {}. \
         Different claims can be met by different strategies at different upstream cost; the \
         second table shows which strategy meets which.\n",
        base.map_or_else(
            || "the single endpoint (no baseline arm in this run)".to_string(),
            |b| format!("the baseline `{}`", b.name)
        )
    );
    let _ = writeln!(
        md,
        "| | claim | target | baseline | best dualrpc arm | nginx | oracle | met? |"
    );
    let _ = writeln!(md, "|---|---|---|--:|---|--:|--:|---|");
    for c in &list {
        let (best, verdict) = match best_arm(run, c) {
            Some((arm, m)) => (
                format!(
                    "`{}`: {} ({:.2} calls/req)",
                    cell(&arm.name),
                    m.shown,
                    arm.calls_per_request()
                ),
                if (c.met)(m.value) {
                    "✅ met"
                } else {
                    "❌ not met"
                },
            ),
            None => ("n/a".to_string(), "— not measured"),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.key,
            c.claim,
            c.target,
            shown(base, c),
            best,
            shown(nginx, c),
            shown(oracle, c),
            verdict
        );
    }
    let min_requests = run
        .arms
        .iter()
        .filter(|a| matches!(a.kind, ArmKind::Strategy(_)))
        .map(|a| a.requests)
        .min()
        .unwrap_or(0);
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "- (a) meets the claim at any reduction of {:.0}% or more; beyond {:.0}% it beats the promise.",
        targets.mean_reduction_min * 100.0,
        targets.mean_reduction_max * 100.0
    );
    let _ = writeln!(
        md,
        "- (d), (e): success rate and availability are both computed as usable answers ÷ client \
         requests over the measured period; failed *and* stale answers count as unavailable. \
         With {} requests per strategy arm (fewest), one failure moves the rate by {}{}.",
        thousands(min_requests),
        if min_requests > 0 {
            format!("{:.4}%", 100.0 / min_requests as f64)
        } else {
            "n/a".to_string()
        },
        if min_requests > 0 && min_requests < 10_000 {
            ", so this run cannot resolve the 0.01% that separates 99.99% from 99.98%"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "- (f): utilisation of an endpoint = upstream calls it received ÷ client requests. A single \
         endpoint or a failover strategy leaves the others idle by design; only strategies that \
         call several endpoints per request reach every endpoint — at that many calls per request."
    );
    let _ = writeln!(
        md,
        "- (g) counts every failed request (transport error, HTTP or JSON-RPC error, timeout); \
         the run does not separate timeouts, so this is an upper bound on timeout failures. \
         Scenario `{}` is what \"normal operation\" means here.\n",
        run.scenario
    );

    // Which arm meets which claim: the honest answer to "can I have all of it at once?".
    let others: Vec<&ArmResult> = run
        .arms
        .iter()
        .filter(|a| a.kind != ArmKind::Baseline)
        .collect();
    if others.is_empty() {
        return;
    }
    let _ = write!(md, "| arm | calls/req |");
    for c in &list {
        let _ = write!(md, " {} |", c.key);
    }
    let _ = write!(md, " claims met |\n|---|--:|");
    for _ in &list {
        md.push_str(":-:|");
    }
    md.push_str("--:|\n");
    let mut all_met: Vec<&str> = Vec::new();
    for arm in others {
        let calls = if arm.upstream_calls.is_empty() {
            "—".to_string()
        } else {
            format!("{:.2}", arm.calls_per_request())
        };
        let _ = write!(md, "| {} | {} |", cell(&arm.name), calls);
        let mut met = 0;
        for c in &list {
            match (c.measure)(arm) {
                Some(m) if (c.met)(m.value) => {
                    met += 1;
                    md.push_str(" ✓ |");
                }
                Some(_) => md.push_str(" ✗ |"),
                None => md.push_str(" – |"),
            }
        }
        let _ = writeln!(md, " {met}/{} |", list.len());
        if met == list.len() && matches!(arm.kind, ArmKind::Strategy(_)) {
            all_met.push(&arm.name);
        }
    }
    if all_met.is_empty() {
        let _ = writeln!(md, "\nNo single strategy meets every claim in this run.\n");
    } else {
        let _ = writeln!(
            md,
            "\nMeeting every claim at once: {}.\n",
            all_met.join(", ")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Plots

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(255, 187, 120),
];

/// Baseline black, nginx grey, everything else from the palette, so the eye finds the two
/// references first.
fn arm_colors(run: &BenchRun) -> Vec<RGBColor> {
    let mut next = 0;
    run.arms
        .iter()
        .map(|a| match a.kind {
            ArmKind::Baseline => BLACK,
            ArmKind::Nginx => RGBColor(127, 127, 127),
            _ => {
                next += 1;
                PALETTE[(next - 1) % PALETTE.len()]
            }
        })
        .collect()
}

fn plot_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> io::Error {
    io::Error::other(format!("plotting failed: {e}"))
}

/// Renders the latency plot: CDF on the left, tail (latency at percentile) on the right.
fn latency_svg(run: &BenchRun) -> io::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1400, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (left, right) = root.split_horizontally(700);
        let arms: Vec<(&ArmResult, RGBColor)> = run
            .arms
            .iter()
            .zip(arm_colors(run))
            .filter(|(a, _)| !a.latency_us.is_empty())
            .collect();
        if arms.is_empty() {
            root.titled("no latency samples", ("sans-serif", 20))
                .map_err(plot_err)?;
        } else {
            draw_cdf(&left, &arms)?;
            draw_tail(&right, &arms)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Lower bound of a log latency axis: the decade below the fastest sample (starting at 1 ms
/// when every arm is slower than 10 ms would leave the left of the plot empty).
fn log_floor_ms(arms: &[(&ArmResult, RGBColor)]) -> f64 {
    let min = arms
        .iter()
        .map(|(a, _)| a.latency_us.min().max(1) as f64 / 1e3)
        .fold(f64::INFINITY, f64::min);
    10f64.powf(min.log10().floor()).max(0.001)
}

fn draw_cdf(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    arms: &[(&ArmResult, RGBColor)],
) -> io::Result<()> {
    let lo = log_floor_ms(arms);
    let hi = arms
        .iter()
        .map(|(a, _)| a.quantile_ms(0.9999))
        .fold(lo * 10.0, f64::max)
        * 1.2;
    let mut chart = ChartBuilder::on(area)
        .caption("Latency CDF", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..1f64)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("share of requests answered")
        .x_label_formatter(&|v| fmt_axis_ms(*v))
        .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .draw()
        .map_err(plot_err)?;
    const STEPS: usize = 240;
    for (arm, color) in arms {
        let h = &arm.latency_us;
        let points: Vec<(f64, f64)> = (0..=STEPS)
            .map(|i| {
                let ms = lo * (hi / lo).powf(i as f64 / STEPS as f64);
                (ms, h.quantile_below((ms * 1e3) as u64))
            })
            .collect();
        draw_line(&mut chart, arm, *color, points)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// Percentile axis position: x = -log10(1 - q), so p90 = 1, p99 = 2, p99.9 = 3, p99.99 = 4.
fn tail_x(q: f64) -> f64 {
    -(1.0 - q).log10()
}

fn draw_tail(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    arms: &[(&ArmResult, RGBColor)],
) -> io::Result<()> {
    // The axis reaches the deepest percentile the largest arm can resolve (≥ 10 samples beyond
    // it), capped at p99.999; an arm's own line stops at its own depth.
    let depth = |n: u64| ((n.max(1) as f64) / 10.0).log10().clamp(1.0, 5.0);
    let xmax = arms
        .iter()
        .map(|(a, _)| depth(a.latency_us.len()))
        .fold(1.0, f64::max);
    let lo = log_floor_ms(arms);
    let hi = arms
        .iter()
        .map(|(a, _)| a.quantile_ms(1.0 - 10f64.powf(-depth(a.latency_us.len()))))
        .fold(lo * 10.0, f64::max)
        * 1.3;
    let keys: Vec<f64> = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999]
        .into_iter()
        .map(tail_x)
        .filter(|x| *x <= xmax + 1e-9)
        .collect();
    let mut chart = ChartBuilder::on(area)
        .caption("Latency by percentile (tail view)", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(
            KeyedAxis {
                range: 0.0..xmax,
                keys,
            },
            (lo..hi).log_scale(),
        )
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms, log scale)")
        .x_label_formatter(&|x| {
            let p = (1.0 - 10f64.powf(-x)) * 100.0;
            if p < 0.5 {
                "min".to_string()
            } else {
                format!("p{}", trim_float(p))
            }
        })
        .y_label_formatter(&|v| fmt_axis_ms(*v))
        .draw()
        .map_err(plot_err)?;
    const STEPS: usize = 200;
    for (arm, color) in arms {
        let h = &arm.latency_us;
        let end = depth(h.len()).min(xmax);
        let points: Vec<(f64, f64)> = (0..=STEPS)
            .map(|i| {
                let x = end * i as f64 / STEPS as f64;
                let q = 1.0 - 10f64.powf(-x);
                (x, (h.value_at_quantile(q).max(1) as f64 / 1e3).max(lo))
            })
            .collect();
        draw_line(&mut chart, arm, *color, points)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// A linear f64 axis with ticks exactly at `keys`. plotters' own `with_key_points` wrapper
/// over an f64 range loses the value formatter that `configure_mesh` needs, hence this.
struct KeyedAxis {
    range: std::ops::Range<f64>,
    keys: Vec<f64>,
}

impl Ranged for KeyedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let f = if span > 0.0 {
            (value - self.range.start) / span
        } else {
            0.0
        };
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Only bold ticks: light mesh lines between arbitrary keys would mean nothing.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// Draws one arm's line with its legend entry. The baseline is thicker so it reads as the
/// reference; the oracle is dashed because the best strategies often run right on top of it
/// and a solid line would hide them.
/// The legend box every plot uses, at `position`.
fn draw_legend<'a, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> io::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_err)
}

fn draw_line<'a, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    arm: &ArmResult,
    color: RGBColor,
    points: Vec<(f64, f64)>,
) -> io::Result<()> {
    let style = color.stroke_width(if arm.kind == ArmKind::Baseline { 3 } else { 2 });
    let anno = if arm.kind == ArmKind::Oracle {
        chart
            .draw_series(DashedLineSeries::new(points, 9, 6, style))
            .map_err(plot_err)?
    } else {
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(plot_err)?
    };
    let dashed = arm.kind == ArmKind::Oracle;
    anno.label(arm.name.clone()).legend(move |(x, y)| {
        let parts: Vec<(i32, i32)> = if dashed {
            vec![(x, y), (x + 7, y)]
        } else {
            vec![(x, y), (x + 20, y)]
        };
        let tail = if dashed {
            vec![(x + 13, y), (x + 20, y)]
        } else {
            vec![]
        };
        EmptyElement::at((0, 0)) + PathElement::new(parts, style) + PathElement::new(tail, style)
    });
    Ok(())
}

/// Renders grouped bars: for each arm (with upstream calls), one bar per endpoint.
fn utilisation_svg(run: &BenchRun) -> io::Result<String> {
    let arms: Vec<&ArmResult> = run
        .arms
        .iter()
        .filter(|a| !a.upstream_calls.is_empty())
        .collect();
    // Endpoints in profile order, then any the arms name that the profile does not.
    let mut endpoints: Vec<String> = run.endpoints.clone();
    for arm in &arms {
        for (n, _) in &arm.upstream_calls {
            if !endpoints.contains(n) {
                endpoints.push(n.clone());
            }
        }
    }
    let width = (160 + 130 * arms.len().max(1)).max(700) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        if arms.is_empty() || endpoints.is_empty() {
            root.titled("no upstream calls recorded", ("sans-serif", 20))
                .map_err(plot_err)?;
            root.present().map_err(plot_err)?;
            drop(root);
            return Ok(svg);
        }
        let share = |arm: &ArmResult, e: &str| {
            arm.utilisation()
                .into_iter()
                .find(|(n, _)| n == e)
                .map_or(0.0, |(_, u)| u * 100.0)
        };
        let ymax = arms
            .iter()
            .flat_map(|a| endpoints.iter().map(move |e| share(a, e)))
            .fold(100.0, f64::max)
            * 1.15;
        let n = arms.len();
        let names: Vec<String> = arms.iter().map(|a| a.name.clone()).collect();
        let keys: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Share of client requests that reached each endpoint",
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(
                KeyedAxis {
                    range: 0.0..n as f64,
                    keys,
                },
                0f64..ymax,
            )
            .map_err(plot_err)?;
        let label = move |x: &f64| {
            names
                .get(x.floor().max(0.0) as usize)
                .cloned()
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&label)
            .y_desc("utilisation (% of client requests)")
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .draw()
            .map_err(plot_err)?;
        let bar = 0.8 / endpoints.len() as f64;
        for (j, e) in endpoints.iter().enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            let rects: Vec<(f64, f64, f64)> = arms
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let x0 = i as f64 + 0.1 + j as f64 * bar;
                    (x0, x0 + bar * 0.92, share(a, e))
                })
                .collect();
            chart
                .draw_series(
                    rects
                        .iter()
                        .map(|&(x0, x1, v)| Rectangle::new([(x0, 0.0), (x1, v)], color.filled())),
                )
                .map_err(plot_err)?
                .label(e.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled())
                });
            chart
                .draw_series(rects.iter().map(|&(x0, x1, v)| {
                    Text::new(
                        format!("{v:.0}%"),
                        ((x0 + x1) / 2.0, v + ymax * 0.01),
                        ("sans-serif", 11)
                            .into_font()
                            .color(&BLACK)
                            .pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )
                }))
                .map_err(plot_err)?;
        }
        let target = RGBColor(200, 0, 0);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 80.0), (n as f64, 80.0)],
                8,
                5,
                target.stroke_width(1),
            ))
            .map_err(plot_err)?
            .label("target 80%")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], target.stroke_width(1)));
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

// ---------------------------------------------------------------------------------------
// Formatting helpers

/// mean, p50, p90, p99, p99.9 in ms with one decimal, or dashes when nothing completed.
fn latency_cells(arm: &ArmResult) -> Vec<String> {
    if arm.latency_us.is_empty() {
        return vec!["—".to_string(); 5];
    }
    let mut v = vec![format!("{:.1}", arm.mean_ms())];
    v.extend([0.5, 0.9, 0.99, 0.999].map(|q| format!("{:.1}", arm.quantile_ms(q))));
    v
}

fn calls_cell(arm: &ArmResult) -> String {
    if arm.upstream_calls.is_empty() {
        "—".to_string()
    } else {
        format!("{:.2}", arm.calls_per_request())
    }
}

/// `alpha 100% · beta 48%`, endpoints in profile order, then any others the arm called.
fn utilisation_cell(arm: &ArmResult, endpoints: &[String]) -> String {
    if arm.upstream_calls.is_empty() {
        return "—".to_string();
    }
    let util = arm.utilisation();
    let mut parts: Vec<String> = endpoints
        .iter()
        .map(|e| {
            let u = util.iter().find(|(n, _)| n == e).map_or(0.0, |(_, u)| *u);
            format!("{e} {:.0}%", u * 100.0)
        })
        .collect();
    parts.extend(
        util.iter()
            .filter(|(n, _)| !endpoints.contains(n))
            .map(|(n, u)| format!("{n} {:.0}%", u * 100.0)),
    );
    parts.join(" · ")
}

/// A rate as a percentage with three decimals: `99.912%`.
fn pct3(rate: f64) -> String {
    format!("{:.3}%", rate * 100.0)
}

/// A target percentage without trailing zeros: `99.9%`, `99.95%`.
fn pct_short(rate: f64) -> String {
    format!("{}%", trim_float(rate * 100.0))
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn fmt_axis_ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        trim_float(v)
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Makes free text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Current UTC time as `YYYY-MM-DD HH:MM UTC`, without a date crate.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{MethodCounts, Overhead};
    use hdrhistogram::Histogram;

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
                    },
                ),
                (
                    "getTransaction".to_string(),
                    MethodCounts {
                        requests: requests - requests / 2,
                        ok: ok - ok / 2,
                        stale,
                    },
                ),
            ],
            upstream_calls: calls.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            elapsed: Duration::from_secs(10),
        }
    }

    fn sample_run() -> BenchRun {
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
            overhead: Some(Overhead {
                requests: 5_000,
                direct_p50_us: 80.0,
                direct_p99_us: 200.0,
                gateway_p50_us: 130.0,
                gateway_p99_us: 320.0,
                gateway_rps_one_core: 41_000.0,
                concurrency: 64,
            }),
            command: "dualrpc bench --scenario steady".into(),
            machine: "test box, 2 cores".into(),
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        std::env::temp_dir().join(format!(
            "dualrpc-report-{tag}-{}-{nanos}",
            std::process::id()
        ))
    }

    #[test]
    fn writes_report_with_numbers_and_verdicts() {
        let run = sample_run();
        let dir = temp_dir("md");
        let path = write_report(&dir, &run, &Targets::default()).unwrap();
        let md = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(md.contains("dualrpc bench --scenario steady"));
        assert!(md.contains("| seed | 7 |"));
        assert!(md.contains("![latency CDF](latency-cdf.svg)"));
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
        // Per-strategy matrix: hedge (30 ms vs 46.6 ms, 1 failure, beta at 20%) meets b, d, e.
        let hedge = md
            .lines()
            .find(|l| l.starts_with("| hedge | 1.10 |"))
            .unwrap();
        assert!(
            hedge.ends_with("| ✗ | ✓ | ✗ | ✓ | ✓ | ✗ | ✗ | 3/7 |"),
            "{hedge}"
        );
        assert!(md.contains("Meeting every claim at once: race."));
        // Per method and overhead.
        assert!(md.contains("| `getTransaction` |"));
        assert!(md.contains("4,900/5,000 · 50 stale"), "{md}");
        assert!(md.contains("| p50 | 80 µs | 130 µs | +50 µs |"));
        assert!(md.contains("41,000 requests/s on one core"));
    }

    #[test]
    fn unmet_claims_say_so() {
        let mut run = sample_run();
        run.arms.retain(|a| a.name != "race");
        run.overhead = None;
        let md = render_markdown(&run, &Targets::default());
        // hedge: 30 ms is not under 30 ms, and it has a failure.
        let line_c = md.lines().find(|l| l.starts_with("| c |")).unwrap();
        assert!(
            line_c.contains("`hedge`: 30.0 ms") && line_c.contains("❌ not met"),
            "{line_c}"
        );
        let line_g = md.lines().find(|l| l.starts_with("| g |")).unwrap();
        assert!(line_g.contains("❌ not met"));
        assert!(md.contains("No single strategy meets every claim"));
        assert!(!md.contains("Gateway overhead"));
    }

    #[test]
    fn svgs_are_valid_and_labelled() {
        let run = sample_run();
        let dir = temp_dir("svg");
        write_report(&dir, &run, &Targets::default()).unwrap();
        let cdf = std::fs::read_to_string(dir.join("latency-cdf.svg")).unwrap();
        let util = std::fs::read_to_string(dir.join("utilisation.svg")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for svg in [&cdf, &util] {
            assert!(
                svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
                "{svg}"
            );
        }
        for arm in &run.arms {
            assert!(cdf.contains(&arm.name), "legend lacks {}", arm.name);
        }
        assert!(cdf.contains("p99.9"), "tail axis labels");
        for name in ["race", "hedge", "nginx", "alpha", "beta", "target 80%"] {
            assert!(util.contains(name), "utilisation plot lacks {name}");
        }
        assert!(
            !util.contains(">oracle<"),
            "the oracle makes no upstream calls"
        );
    }

    #[test]
    fn terminal_table_lines_up() {
        let table = render_table(&sample_run());
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("arm ") && lines[0].contains("p99.9"));
        assert!(lines[2].starts_with("single (alpha)"));
        assert!(table.contains("alpha 100% · beta 100%"));
        assert!(table.contains("alpha 51% · beta 50%"));
        // Right-aligned numbers end where their header ends.
        let end =
            |line: &str, pat: &str| line[..line.find(pat).unwrap() + pat.len()].chars().count();
        let race = lines.iter().find(|l| l.starts_with("race")).unwrap();
        assert_eq!(end(lines[0], "calls/req"), end(race, "2.00"), "{table}");
        assert_eq!(end(lines[0], "success"), end(race, "100.000%"), "{table}");
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
            overhead: None,
            command: String::new(),
            machine: String::new(),
        };
        let dir = temp_dir("empty");
        write_report(&dir, &run, &Targets::default()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(render_table(&run).starts_with("arm"));
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(pct_short(0.9995), "99.95%");
        assert_eq!(pct3(0.98), "98.000%");
        assert_eq!(tail_x(0.999).round(), 3.0);
        assert!(utc_now().ends_with(" UTC") && utc_now().len() == 20);
    }
}
