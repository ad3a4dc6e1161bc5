//! `report.md` itself: the run's header (command, machine, seed, arms), then the sections —
//! claims (rendered by `claims`), the results table with the two plots, time to detect a
//! launch (rendered by `detection`), per-method counts and latency per method.

use std::fmt::Write as _;

use super::Targets;
use super::claims::claims_section;
use super::detection::detection_section;
use super::format::{
    calls_cell, cell, latency_cells, pct3, secs, thousands, utc_now, utilisation_cell,
};
use crate::results::{ArmKind, BenchRun};

/// The whole of `report.md`.
pub(super) fn render_markdown(run: &BenchRun, targets: &Targets) -> String {
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
    detection_section(&mut md, run, targets);
    methods_section(&mut md, run);
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
    let methods = methods_in(run);
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
    let _ = writeln!(md, "Latency per method, mean / p99 in ms:\n");
    let _ = write!(md, "| method |");
    for arm in &run.arms {
        let _ = write!(md, " {} |", cell(&arm.name));
    }
    let _ = write!(md, "\n|---|");
    for _ in &run.arms {
        let _ = write!(md, "--:|");
    }
    md.push('\n');
    for m in methods_in(run) {
        let _ = write!(md, "| `{m}` |");
        for arm in &run.arms {
            match arm.by_method.iter().find(|(n, _)| n == m) {
                Some((_, c)) => match (c.mean_ms(), c.quantile_ms(0.99)) {
                    (Some(mean), Some(p99)) => {
                        let _ = write!(md, " {mean:.1} / {p99:.1} |");
                    }
                    _ => md.push_str(" — |"),
                },
                None => md.push_str(" — |"),
            }
        }
        md.push('\n');
    }
    md.push('\n');
}

/// The methods any arm sent, in order of first appearance.
fn methods_in(run: &BenchRun) -> Vec<&str> {
    let mut methods: Vec<&str> = Vec::new();
    for arm in &run.arms {
        for (m, _) in &arm.by_method {
            if !methods.contains(&m.as_str()) {
                methods.push(m);
            }
        }
    }
    methods
}
