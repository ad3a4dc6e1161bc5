//! `latency-cdf.svg`: the latency CDF of every arm (left) and the tail view, latency by
//! percentile on a stretched percentile axis (right).

use std::io;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::format::{fmt_axis_ms, trim_float};
use super::plots::{KeyedAxis, arm_colors, draw_legend, draw_line, plot_err};
use crate::results::{ArmResult, BenchRun};

/// Renders the latency plot: CDF on the left, tail (latency at percentile) on the right.
pub(super) fn latency_svg(run: &BenchRun) -> io::Result<String> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::sample_run;
    use super::*;

    #[test]
    fn svg_is_valid_and_labelled() {
        let run = sample_run();
        let cdf = latency_svg(&run).unwrap();
        assert!(
            cdf.starts_with("<svg") && cdf.trim_end().ends_with("</svg>"),
            "{cdf}"
        );
        for arm in &run.arms {
            assert!(cdf.contains(&arm.name), "legend lacks {}", arm.name);
        }
        assert!(cdf.contains("p99.9"), "tail axis labels");
    }

    #[test]
    fn tail_axis_positions() {
        assert_eq!(tail_x(0.999).round(), 3.0);
    }
}
