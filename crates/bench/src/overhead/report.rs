//! The overhead measurement's Markdown report: medians over the rounds, the issue's
//! targets met or not, memory.

use std::fmt::Write as _;

use super::{BATCH, Load, OverheadRun, TARGETS};

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The target's figures at `connections`: each the median over the rounds; failures summed.
fn find(run: &OverheadRun, target: &str, connections: usize) -> Option<Load> {
    let loads: Vec<&Load> = run
        .rows
        .iter()
        .filter(|r| r.target == target && r.connections == connections)
        .map(|r| &r.load)
        .collect();
    if loads.is_empty() {
        return None;
    }
    let of = |f: fn(&Load) -> f64| median(loads.iter().map(|l| f(l)).collect());
    Some(Load {
        requests: loads.iter().map(|l| l.requests).sum(),
        errors: loads.iter().map(|l| l.errors).sum(),
        p50_us: of(|l| l.p50_us),
        p99_us: of(|l| l.p99_us),
        rps: of(|l| l.rps),
    })
}

/// The Markdown report: the table, the targets met or not, memory.
pub fn render(run: &OverheadRun, command: &str, machine: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Gateway overhead\n");
    let _ = writeln!(md, "- command: `{command}`\n- machine: {machine}\n");
    let _ = writeln!(
        md,
        "A zero-latency upstream that answers each request with a result under its id; wrk, one \
         thread, a different `getBalance` in every request; failed requests counted (any \
         answer that is not a JSON-RPC result). nginx and the compared dualrpc targets run one \
         worker each. Each figure is the median of {} rounds in which the targets take turns. \
         Added p50 = the target's p50 minus direct's, at 2 connections.\n",
        run.rounds
    );
    let _ = writeln!(
        md,
        "| target | p50 (2 conn.) | added p50 | p99 (2 conn.) | req/s (2 conn.) | req/s (64 conn.) | p99 (64 conn.) | failed |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|");
    let direct = find(run, "direct", 2).map_or(0.0, |d| d.p50_us);
    for target in TARGETS {
        let (Some(two), Some(many)) = (find(run, target, 2), find(run, target, 64)) else {
            continue;
        };
        let added = if target == "direct" {
            "—".to_string()
        } else {
            format!("{:.0} µs", two.p50_us - direct)
        };
        let _ = writeln!(
            md,
            "| {target} | {:.0} µs | {added} | {:.0} µs | {:.0} | {:.0} | {:.0} µs | {} |",
            two.p50_us,
            two.p99_us,
            two.rps,
            many.rps,
            many.p99_us,
            two.errors + many.errors
        );
    }
    md.push('\n');
    targets(&mut md, run, direct);
    memory(&mut md, run);
    md
}

/// The three comparisons.
fn targets(md: &mut String, run: &OverheadRun, direct: f64) {
    let (Some(nginx2), Some(fo2), Some(race2), Some(nginx64), Some(fo64), Some(race64)) = (
        find(run, "nginx", 2),
        find(run, "dualrpc failover", 2),
        find(run, "dualrpc race", 2),
        find(run, "nginx", 64),
        find(run, "dualrpc failover", 64),
        find(run, "dualrpc race", 64),
    ) else {
        return;
    };
    let added = |l: &Load| (l.p50_us - direct).max(1.0);
    let met = |ok: bool| if ok { "**met**" } else { "**not met**" };
    let _ = writeln!(md, "| target | measured | |\n|---|---|---|");
    let ratio = added(&fo2) / added(&nginx2);
    let _ = writeln!(
        md,
        "| failover's added p50 ≤ 1.25 × nginx's | {:.0} µs vs {:.0} µs ({ratio:.2}×) | {} |",
        added(&fo2),
        added(&nginx2),
        met(ratio <= 1.25)
    );
    let _ = writeln!(
        md,
        "| failover's req/s at 64 connections ≥ nginx's | {:.0} vs {:.0} ({:.2}×) | {} |",
        fo64.rps,
        nginx64.rps,
        fo64.rps / nginx64.rps.max(1.0),
        met(fo64.rps >= nginx64.rps)
    );
    let lat = added(&race2) / added(&fo2);
    let thr = fo64.rps / race64.rps.max(1.0);
    let _ = writeln!(
        md,
        "| race over two within 1.5× of failover's cost | added p50 {lat:.2}×, req/s {thr:.2}× | {} |",
        met(lat <= 1.5 && thr <= 1.5)
    );
    md.push('\n');
}

fn memory(md: &mut String, run: &OverheadRun) {
    if run.memory.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Memory with calls in flight\n");
    let _ = writeln!(
        md,
        "`dualrpc serve`, failover over one endpoint that holds every answer 3 s; calls sent \
         as batches of {BATCH}; resident set from `/proc` once every call reached the upstream.\n"
    );
    let _ = writeln!(
        md,
        "| calls in flight | RSS idle | RSS in flight | peak RSS | failed | target |"
    );
    let _ = writeln!(md, "|--:|--:|--:|--:|--:|---|");
    for m in &run.memory {
        let mib = |k: u64| k as f64 / 1024.0;
        let target = if m.in_flight <= 1_000 { 64.0 } else { 256.0 };
        let _ = writeln!(
            md,
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} | ≤ {target:.0} MiB: {} |",
            m.in_flight,
            mib(m.idle_kib),
            mib(m.rss_kib),
            mib(m.peak_kib),
            m.errors,
            if mib(m.peak_kib) <= target {
                "met"
            } else {
                "not met"
            }
        );
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
