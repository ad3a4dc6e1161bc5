//! The claims section of `report.md`: each of the mission's claims (a)–(h) checked on the
//! strategy arm that does best on it, next to the baseline, nginx and the oracle, with notes on
//! how each is measured; then the matrix of which arm meets which claim. Claim (h), time to
//! detect a launch, is defined with its own section in `detection`.

use std::fmt::Write as _;

use super::Targets;
use super::detection::detection_claim;
use super::format::{cell, pct_short, pct3, thousands};
use crate::results::{ArmKind, ArmResult, BenchRun};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Better {
    Higher,
    Lower,
}

/// One arm's value for one claim: the number compared, how it is shown, and how many of the
/// claim's hard conditions it breaks besides the number (e.g. launches missed): any breaks
/// the claim, and fewer ranks first.
pub(super) struct Measure {
    pub(super) value: f64,
    pub(super) shown: String,
    pub(super) violations: u64,
}

/// Measures one arm for one claim; `None` where the claim does not apply (e.g. utilisation of
/// the oracle, which calls no endpoint).
pub(super) type MeasureFn<'a> = Box<dyn Fn(&ArmResult) -> Option<Measure> + 'a>;

/// One claim of the mission, measurable on any arm.
pub(super) struct Claim<'a> {
    pub(super) key: &'static str,
    pub(super) claim: &'static str,
    pub(super) target: String,
    pub(super) better: Better,
    pub(super) measure: MeasureFn<'a>,
    pub(super) met: Box<dyn Fn(f64) -> bool + 'a>,
}

impl Claim<'_> {
    /// Whether `m` meets the claim.
    fn meets(&self, m: &Measure) -> bool {
        m.violations == 0 && (self.met)(m.value)
    }
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
            Some(Measure {
                value: r,
                shown,
                violations: 0,
            })
        }
    };
    let success = |arm: &ArmResult| {
        (arm.requests > 0).then(|| Measure {
            value: arm.success_rate(),
            shown: pct3(arm.success_rate()),
            violations: 0,
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
                    violations: 0,
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
                    violations: 0,
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
                    violations: 0,
                })
            }),
            met: Box::new(move |v| v <= t.max_failed as f64),
        },
        detection_claim(t),
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
            let by_violations = ma.violations.cmp(&mb.violations);
            let by_value = match claim.better {
                Better::Higher => mb.value.total_cmp(&ma.value),
                Better::Lower => ma.value.total_cmp(&mb.value),
            };
            by_violations
                .then(by_value)
                .then(a.calls_per_request().total_cmp(&b.calls_per_request()))
        })
}

/// The `## Claims` section: the claims table, notes on how each claim is measured, and the
/// arm × claim matrix.
pub(super) fn claims_section(
    md: &mut String,
    run: &BenchRun,
    targets: &Targets,
    base: Option<&ArmResult>,
) {
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
                if c.meets(&m) {
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
         Scenario `{}` is what \"normal operation\" means here.",
        run.scenario
    );
    let _ = writeln!(
        md,
        "- (h) compares the arm's median time to detect a launch with the detection oracle's on \
         the same polls; see *Time to detect a launch* below.\n"
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
                Some(m) if c.meets(&m) => {
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

#[cfg(test)]
mod tests {
    use super::super::Targets;
    use super::super::fixtures::sample_run;
    use super::super::markdown::render_markdown;

    #[test]
    fn unmet_claims_say_so() {
        let mut run = sample_run();
        run.arms.retain(|a| a.name != "race");
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
    }
}
