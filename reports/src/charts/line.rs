//! [`line_chart`]: series against a linear, log or percentile x axis.

use crate::error::Error;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::frame::{draw_svg, grid, titled, DrawError, PlotArea, Swatch};
use super::*;

/// The chart's drawing context: f64 axes on the SVG backend.
type Ctx<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws `chart` and returns the `<svg>` element.
pub fn line_chart(chart: &LineChart) -> Result<String, Error> {
    let transformed: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter_map(|&(x, y)| Some((to_axis(chart.x_axis, x)?, to_axis(chart.y_axis, y)?)))
                .collect()
        })
        .collect();
    let has_data = !transformed.iter().all(Vec::is_empty);
    draw_svg(
        &chart.id,
        &chart.title,
        CHART_SIZE.1,
        &legend(chart),
        has_data,
        |plot| draw_lines(plot, chart, &transformed),
    )
}

/// One entry per series, then one per kind of marker some series uses.
fn legend(chart: &LineChart) -> Vec<(String, Swatch)> {
    let mut legend: Vec<(String, Swatch)> = chart
        .series
        .iter()
        .map(|s| {
            let color = PALETTE[s.color % PALETTE.len()];
            (s.name.clone(), Swatch::Line(color, s.dashed))
        })
        .collect();
    let markers = |m: Marker| chart.series.iter().any(|s| s.markers.contains(&m));
    if markers(Marker::Flagged) {
        legend.push(("rig/mock limited".to_string(), Swatch::Flag));
    }
    if markers(Marker::Floor) {
        legend.push(("floor: no higher level".to_string(), Swatch::Floor));
    }
    if markers(Marker::Change) {
        legend.push(("change point (new segment)".to_string(), Swatch::Change));
    }
    legend
}

/// The axes over every point (and the chart's `x_span`), then each series with its markers;
/// `transformed` holds each series' points in axis units.
fn draw_lines(
    plot: &PlotArea<'_>,
    chart: &LineChart,
    transformed: &[Vec<(f64, f64)>],
) -> Result<(), DrawError> {
    let all = transformed.iter().flatten();
    let span = chart
        .x_span
        .iter()
        .flat_map(|&(a, b)| [to_axis(chart.x_axis, a), to_axis(chart.x_axis, b)])
        .flatten();
    let (x0, x1) = padded_range(all.clone().map(|p| p.0).chain(span), false);
    let (y0, y1) = padded_range(all.map(|p| p.1), chart.y_axis == Axis::Linear);
    let mut ctx = titled(plot, &chart.title, 64).build_cartesian_2d(x0..x1, y0..y1)?;
    grid(
        ctx.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_label_formatter(&|v| axis_label(chart.x_axis, *v))
            .y_label_formatter(&|v| axis_label(chart.y_axis, *v)),
    )
    .draw()?;
    for (series, points) in chart.series.iter().zip(transformed) {
        let color = PALETTE[series.color % PALETTE.len()];
        let style = color.stroke_width(if series.dashed { 1 } else { 2 });
        if series.dashed {
            ctx.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))?;
        } else {
            ctx.draw_series(LineSeries::new(points.clone(), style))?;
        }
        draw_markers(&mut ctx, chart, series, color)?;
    }
    Ok(())
}

/// The dots (when the series has them) and the marks of flagged, floor and change points.
fn draw_markers(
    ctx: &mut Ctx<'_, '_>,
    chart: &LineChart,
    series: &Series,
    color: RGBColor,
) -> Result<(), DrawError> {
    // Markers follow the untransformed point order, so pair them before filtering.
    for (i, &(x, y)) in series.points.iter().enumerate() {
        let (Some(x), Some(y)) = (to_axis(chart.x_axis, x), to_axis(chart.y_axis, y)) else {
            continue;
        };
        let marker = series.markers.get(i).copied().unwrap_or_default();
        if series.dots || marker != Marker::Plain {
            ctx.draw_series(std::iter::once(Circle::new((x, y), 3, color.filled())))?;
        }
        match marker {
            Marker::Plain => {}
            Marker::Flagged => {
                ctx.draw_series(std::iter::once(Cross::new(
                    (x, y),
                    7,
                    FLAG_COLOR.stroke_width(2),
                )))?;
            }
            Marker::Floor => {
                ctx.draw_series(std::iter::once(TriangleMarker::new(
                    (x, y),
                    8,
                    color.stroke_width(1),
                )))?;
            }
            Marker::Change => {
                ctx.draw_series(std::iter::once(Circle::new(
                    (x, y),
                    8,
                    FLAG_COLOR.stroke_width(2),
                )))?;
            }
        }
    }
    Ok(())
}
