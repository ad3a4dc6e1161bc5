//! What the two SVG plots share: the palette and each arm's colour, the keyed axis, the
//! legend box, how an arm's line is drawn, and the error conversion.

use std::io;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::results::{ArmKind, ArmResult, BenchRun};

/// Series colours for strategy arms and endpoints: matplotlib's tab10 without its grey, which
/// marks nginx.
pub(super) const PALETTE: [RGBColor; 10] = [
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
pub(super) fn arm_colors(run: &BenchRun) -> Vec<RGBColor> {
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

pub(super) fn plot_err<E: std::error::Error + Send + Sync>(
    e: DrawingAreaErrorKind<E>,
) -> io::Error {
    io::Error::other(format!("plotting failed: {e}"))
}

/// A linear f64 axis with ticks exactly at `keys`. plotters' own `with_key_points` wrapper
/// over an f64 range loses the value formatter that `configure_mesh` needs, hence this.
pub(super) struct KeyedAxis {
    pub(super) range: std::ops::Range<f64>,
    pub(super) keys: Vec<f64>,
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

/// The legend box every plot uses, at `position`.
pub(super) fn draw_legend<'a, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
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

/// Draws one arm's line with its legend entry. The baseline is thicker so it reads as the
/// reference; the oracle is dashed because the best strategies often run right on top of it
/// and a solid line would hide them.
pub(super) fn draw_line<'a, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
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
