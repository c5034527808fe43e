//! [`line_chart`]: series against a linear, log or percentile x axis.

use crate::error::Error;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::frame::{draw_legend, legend_height, note_no_data, tag, Swatch};
use super::*;

/// Draws `chart` and returns the `<svg>` element.
pub fn line_chart(chart: &LineChart) -> Result<String, Error> {
    let fail = |e: &dyn std::fmt::Display| Error::Chart {
        chart: chart.id.clone(),
        message: e.to_string(),
    };
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
    let all = transformed.iter().flatten();
    let span = chart
        .x_span
        .iter()
        .flat_map(|&(a, b)| [to_axis(chart.x_axis, a), to_axis(chart.x_axis, b)])
        .flatten();
    let (x0, x1) = padded_range(all.clone().map(|p| p.0).chain(span), false);
    let (y0, y1) = padded_range(all.map(|p| p.1), chart.y_axis == Axis::Linear);

    let mut svg = String::new();
    {
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
        let size = (CHART_SIZE.0, CHART_SIZE.1 + legend_height(legend.len()));
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let (plot, legend_area) = root.split_vertically(CHART_SIZE.1);
        draw_legend(&legend_area, &legend).map_err(|e| fail(&e))?;
        let mut ctx =
            caption_and_build(&plot, &chart.title, x0..x1, y0..y1).map_err(|e| fail(&e))?;
        ctx.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_label_formatter(&|v| axis_label(chart.x_axis, *v))
            .y_label_formatter(&|v| axis_label(chart.y_axis, *v))
            .max_light_lines(0)
            .bold_line_style(RGBColor(230, 230, 230))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| fail(&e))?;
        for (series, points) in chart.series.iter().zip(&transformed) {
            let color = PALETTE[series.color % PALETTE.len()];
            let style = color.stroke_width(if series.dashed { 1 } else { 2 });
            if series.dashed {
                ctx.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
                    .map_err(|e| fail(&e))?;
            } else {
                ctx.draw_series(LineSeries::new(points.clone(), style))
                    .map_err(|e| fail(&e))?;
            }
            // Markers follow the untransformed point order, so pair them before filtering.
            for (i, &(x, y)) in series.points.iter().enumerate() {
                let (Some(x), Some(y)) = (to_axis(chart.x_axis, x), to_axis(chart.y_axis, y))
                else {
                    continue;
                };
                let marker = series.markers.get(i).copied().unwrap_or_default();
                if series.dots || marker != Marker::Plain {
                    ctx.draw_series(std::iter::once(Circle::new((x, y), 3, color.filled())))
                        .map_err(|e| fail(&e))?;
                }
                match marker {
                    Marker::Plain => {}
                    Marker::Flagged => {
                        ctx.draw_series(std::iter::once(Cross::new(
                            (x, y),
                            7,
                            FLAG_COLOR.stroke_width(2),
                        )))
                        .map_err(|e| fail(&e))?;
                    }
                    Marker::Floor => {
                        ctx.draw_series(std::iter::once(TriangleMarker::new(
                            (x, y),
                            8,
                            color.stroke_width(1),
                        )))
                        .map_err(|e| fail(&e))?;
                    }
                    Marker::Change => {
                        ctx.draw_series(std::iter::once(Circle::new(
                            (x, y),
                            8,
                            FLAG_COLOR.stroke_width(2),
                        )))
                        .map_err(|e| fail(&e))?;
                    }
                }
            }
        }
        if transformed.iter().all(Vec::is_empty) {
            note_no_data(&plot).map_err(|e| fail(&e))?;
        }
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(tag(svg, &chart.id, &chart.title))
}

type Ctx<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn caption_and_build<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Ctx<'a, 'b>, DrawingAreaErrorKind<std::io::Error>> {
    ChartBuilder::on(root)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
}
