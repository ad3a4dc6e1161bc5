//! The fixed-width terminal table `dualrpc demo` and `dualrpc bench` print: one row per arm,
//! the same columns as the results table in `report.md`, plus time to detect a launch (median,
//! p99, launches missed).

use super::detection::detection_cells;
use super::format::{calls_cell, latency_cells, pct3, thousands, utilisation_cell};
use crate::results::BenchRun;

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
        "detect p50",
        "detect p99",
        "missed",
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
            ]);
            row.extend(detection_cells(arm));
            row.extend([calls_cell(arm), utilisation_cell(arm, &run.endpoints)]);
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
    out.push_str("latency in ms; success = usable answers / requests; detect = ms from a launch's creation to its mint validated (missed = launches never validated); utilisation = share of requests that reached each endpoint\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::sample_run;
    use super::*;

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
}
