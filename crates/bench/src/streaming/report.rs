//! The streaming measurement as text: the terminal table the demo prints and the Markdown
//! report `bench --streaming` writes.

use std::fmt::Write as _;

use super::footprint::Row;
use super::{StreamArm, StreamingRun};

fn ms(v: Option<f64>) -> String {
    // `+ 0.0` turns a -0.0 (a few µs ahead) into 0.0.
    v.map_or_else(
        || "—".to_string(),
        |v| format!("{:.1}", (v * 10.0).round() / 10.0 + 0.0),
    )
}

/// The cells of one arm: p50, p90, p99 (ms), behind first p50/p99, launches heard of before
/// every direct client, lost, duplicates, reconnects.
fn cells(arm: &StreamArm, launches: u64) -> Vec<String> {
    let lost = if launches == 0 {
        "—".to_string()
    } else {
        format!(
            "{} ({:.2}%)",
            arm.lost,
            arm.lost as f64 * 100.0 / launches as f64
        )
    };
    vec![
        arm.name.clone(),
        ms(arm.quantile_ms(0.5)),
        ms(arm.quantile_ms(0.9)),
        ms(arm.quantile_ms(0.99)),
        ms(arm.behind_first_ms(0.5)),
        ms(arm.behind_first_ms(0.99)),
        arm.ahead_of_first().to_string(),
        lost,
        arm.duplicates.to_string(),
        arm.reconnects.to_string(),
    ]
}

const HEADERS: [&str; 10] = [
    "arm",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "behind first p50",
    "behind first p99",
    "ahead of first",
    "lost",
    "duplicates",
    "reconnects",
];

/// The fixed-width table of [`StreamingRun`] for the terminal.
pub fn render_table(run: &StreamingRun) -> String {
    let rows: Vec<Vec<String>> = run.arms.iter().map(|a| cells(a, run.launches)).collect();
    let widths: Vec<usize> = (0..HEADERS.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([HEADERS[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = line(HEADERS.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push('\n');
        out.push_str(&line(r));
    }
    out
}

/// The Markdown report: the run, the time-to-notification table, and the footprint rows.
pub fn render_markdown(
    run: &StreamingRun,
    footprint: &[Row],
    command: &str,
    machine: &str,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Streaming: time from a launch to its notification\n");
    let _ = writeln!(
        md,
        "Command: `{command}`  \nMachine: {machine}  \nProfile `{}`, seed {}, {} s measured, \
         `logsSubscribe` on the launchpad at `{}`.\n",
        run.profile,
        run.seed,
        run.duration.as_secs(),
        run.commitment
    );
    let _ = writeln!(
        md,
        "{} launches counted. {} forced disconnects (one provider's PubSub connections at a \
         time); the providers closed {} connections in all (forced and their own) and dropped \
         {} notifications on purpose.\n",
        run.launches, run.forced_disconnects, run.provider_disconnects, run.provider_drops
    );
    let _ = writeln!(md, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(HEADERS.len()));
    for arm in &run.arms {
        let _ = writeln!(md, "| {} |", cells(arm, run.launches).join(" | "));
    }
    let _ = writeln!(
        md,
        "\nms from a launch's creation (the start of its slot) to the client receiving its \
         `logsNotification`; *behind first* = after the first provider's copy reached its own \
         direct client (negative: before it); *ahead of first* = launches the arm heard of \
         more than 1 ms before every direct client (one of them was reconnecting or had its \
         copy dropped); *lost* = launches the \
         arm never heard of; *first provider* = the earliest direct client per launch (the \
         oracle)."
    );
    if !footprint.is_empty() {
        let _ = writeln!(md, "\n## Footprint\n");
        let _ = writeln!(
            md,
            "| shape | subscriptions | connections | upstream subscriptions | idle RSS MiB | RSS MiB | MiB per 1,000 | CPU % of a core | CPU % per 1,000 | notifications/s |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in footprint {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
                r.shape.name(),
                r.subscriptions,
                r.connections,
                r.upstream_subscriptions,
                r.idle_rss_kib as f64 / 1024.0,
                r.rss_kib as f64 / 1024.0,
                r.mib_per_1000(),
                r.cpu_percent,
                r.cpu_per_1000(),
                r.notifications_per_s
            );
        }
        let window = footprint.first().map_or(0, |r| r.window.as_secs());
        let _ = writeln!(
            md,
            "\n`dualrpc serve` as its own process; RSS from `/proc/PID/status`, CPU = user + \
             system time over {window} s after every subscription was confirmed. *distinct* = \
             N `accountSubscribe` on N accounts (each opened on every provider; nothing \
             happens at them); *shared* = N connections with the same `logsSubscribe` (every \
             launch fanned out to N clients)."
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> StreamingRun {
        StreamingRun {
            profile: "seed".into(),
            seed: 7,
            duration: std::time::Duration::from_secs(10),
            launches: 4,
            arms: vec![
                StreamArm {
                    name: "dualrpc".into(),
                    delays_us: vec![10_000, 20_000, 30_000, 40_000],
                    behind_first_us: vec![-1_200, 0, 500, 1_000],
                    ..Default::default()
                },
                StreamArm {
                    name: "alpha".into(),
                    delays_us: vec![10_000, 20_000, 30_000],
                    lost: 1,
                    reconnects: 2,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_table_shows_quantiles_losses_and_reconnects() {
        let t = render_table(&run());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[1].starts_with("dualrpc"), "{t}");
        assert!(lines[1].contains("20.0"), "p50 of dualrpc: {t}");
        let dual = cells(&run().arms[0], 4);
        assert_eq!(dual[6], "1", "ahead of every direct client once: {dual:?}");
        assert!(
            lines[2].contains("1 (25.00%)"),
            "alpha lost one of four: {t}"
        );
        assert!(
            lines[2].contains('—'),
            "alpha has no behind-first figures: {t}"
        );
    }

    #[test]
    fn the_markdown_has_one_row_per_arm_and_the_footprint() {
        let row = Row {
            shape: super::super::footprint::Shape::Distinct,
            subscriptions: 1000,
            connections: 4,
            upstream_subscriptions: 2000,
            idle_rss_kib: 10 * 1024,
            rss_kib: 14 * 1024,
            cpu_percent: 1.5,
            notifications_per_s: 0.0,
            window: std::time::Duration::from_secs(10),
        };
        let md = render_markdown(&run(), &[row], "dualrpc bench --streaming", "test machine");
        assert_eq!(md.matches("\n| dualrpc |").count(), 1, "{md}");
        assert!(
            md.contains("| distinct | 1000 | 4 | 2000 | 10.0 | 14.0 | 4.0 |"),
            "{md}"
        );
    }
}
