//! `utilisation.svg`: grouped bars, for each arm with upstream calls the share of client
//! requests that reached each endpoint, against the dashed 80% target line.

use std::io;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plots::{KeyedAxis, PALETTE, draw_legend, plot_err};
use crate::results::{ArmResult, BenchRun};

/// Renders grouped bars: for each arm (with upstream calls), one bar per endpoint.
pub(super) fn utilisation_svg(run: &BenchRun) -> io::Result<String> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::sample_run;
    use super::*;

    #[test]
    fn svg_is_valid_and_labelled() {
        let util = utilisation_svg(&sample_run()).unwrap();
        assert!(
            util.starts_with("<svg") && util.trim_end().ends_with("</svg>"),
            "{util}"
        );
        for name in ["race", "hedge", "nginx", "alpha", "beta", "target 80%"] {
            assert!(util.contains(name), "utilisation plot lacks {name}");
        }
        assert!(
            !util.contains(">oracle<"),
            "the oracle makes no upstream calls"
        );
    }
}
