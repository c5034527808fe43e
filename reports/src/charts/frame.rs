//! What every chart shares: the canvas (white, the plot above a legend strip, the "no data"
//! note when nothing was drawn, the attributes that tag the root `<svg>` for the page), the
//! caption and label areas, and the grid style. [`super::line_chart`] and [`super::bar_chart`]
//! only add their coordinates, labels and marks.

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{CHART_SIZE, FLAG_COLOR};
use crate::error::Error;

/// What drawing on the SVG backend can fail with.
pub(super) type DrawError = DrawingAreaErrorKind<std::io::Error>;

/// The plot area of a chart (the canvas above the legend strip).
pub(super) type PlotArea<'b> = DrawingArea<SVGBackend<'b>, Shift>;

/// Draws a chart into an `<svg>` tagged with `id` and `title`: a white canvas of the chart width
/// and `plot_height_px` plus the legend strip, `legend` below the plot, the plot by `draw_plot`,
/// then "no data" over it unless `has_data`.
pub(super) fn draw_svg(
    id: &str,
    title: &str,
    plot_height_px: u32,
    legend: &[(String, Swatch)],
    has_data: bool,
    draw_plot: impl FnOnce(&PlotArea<'_>) -> Result<(), DrawError>,
) -> Result<String, Error> {
    let mut svg = String::new();
    let drawn = (|| {
        let size = (CHART_SIZE.0, plot_height_px + legend_height(legend.len()));
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, legend_area) = root.split_vertically(plot_height_px);
        draw_legend(&legend_area, legend)?;
        draw_plot(&plot)?;
        if !has_data {
            note_no_data(&plot)?;
        }
        root.present()
    })();
    drawn.map_err(|e| Error::Chart {
        chart: id.to_string(),
        message: e.to_string(),
    })?;
    Ok(tag(svg, id, title))
}

/// The builder every chart starts from: its caption over the plot, a 12 px margin, 44 px for
/// the x labels and `y_label_px` for the y labels.
pub(super) fn titled<'a, 'b, 'c>(
    plot: &'a PlotArea<'c>,
    title: &str,
    y_label_px: u32,
) -> ChartBuilder<'a, 'b, SVGBackend<'c>> {
    let mut builder = ChartBuilder::on(plot);
    builder
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(y_label_px);
    builder
}

/// The grid every chart shares: bold lines only, in light grey, and 13 px labels.
pub(super) fn grid<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.max_light_lines(0)
        .bold_line_style(RGBColor(230, 230, 230))
        .label_style(("sans-serif", 13))
}

/// What a legend entry shows before its text.
pub(super) enum Swatch {
    /// A line in this colour, dashed or solid.
    Line(RGBColor, bool),
    /// A filled block (bars).
    Block(RGBColor),
    /// The red cross of flagged points.
    Flag,
    /// The hollow triangle of floor readings.
    Floor,
    /// The red ring of change points.
    Change,
}

const LEGEND_COLUMNS: usize = 3;
const LEGEND_ROW_PX: u32 = 20;
const LEGEND_CHARS: usize = 30;

/// Height of the legend strip under a chart with `entries` entries, px.
fn legend_height(entries: usize) -> u32 {
    if entries == 0 {
        0
    } else {
        8 + LEGEND_ROW_PX * entries.div_ceil(LEGEND_COLUMNS) as u32
    }
}

/// The legend as a strip below the plot (never over the data), three entries per row.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: &[(String, Swatch)],
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let column_px = (area.dim_in_pixel().0 as usize / LEGEND_COLUMNS) as i32;
    for (i, (name, swatch)) in entries.iter().enumerate() {
        let x = 16 + column_px * (i % LEGEND_COLUMNS) as i32;
        let y = 10 + (LEGEND_ROW_PX * (i / LEGEND_COLUMNS) as u32) as i32;
        match swatch {
            Swatch::Line(color, false) => area.draw(&PathElement::new(
                vec![(x, y), (x + 20, y)],
                color.stroke_width(2),
            ))?,
            Swatch::Line(color, true) => {
                for dash in 0..3 {
                    let x = x + dash * 8;
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 5, y)],
                        color.stroke_width(1),
                    ))?;
                }
            }
            Swatch::Block(color) => area.draw(&Rectangle::new(
                [(x, y - 6), (x + 20, y + 6)],
                color.filled(),
            ))?,
            Swatch::Flag => area.draw(&Cross::new((x + 10, y), 5, FLAG_COLOR.stroke_width(2)))?,
            Swatch::Floor => {
                area.draw(&TriangleMarker::new((x + 10, y), 7, BLACK.stroke_width(1)))?
            }
            Swatch::Change => {
                area.draw(&Circle::new((x + 10, y), 6, FLAG_COLOR.stroke_width(2)))?
            }
        }
        let text: String = if name.chars().count() > LEGEND_CHARS {
            name.chars().take(LEGEND_CHARS - 1).chain(['…']).collect()
        } else {
            name.clone()
        };
        area.draw(&Text::new(
            text,
            (x + 26, y - 7),
            ("sans-serif", 13).into_font().color(&BLACK),
        ))?;
    }
    Ok(())
}

/// "no data", grey, in the middle of the plot.
fn note_no_data(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let (width, height) = root.dim_in_pixel();
    root.draw(&Text::new(
        "no data",
        (width as i32 / 2 - 30, height as i32 / 2),
        ("sans-serif", 18)
            .into_font()
            .color(&RGBColor(120, 120, 120)),
    ))
}

/// Marks the root `<svg>` with the chart id, a class and an accessible name.
fn tag(svg: String, id: &str, title: &str) -> String {
    let attributes = format!(
        "<svg class=\"chart\" data-chart=\"{}\" role=\"img\" aria-label=\"{}\" ",
        crate::escape::escape(id),
        crate::escape::escape(title)
    );
    svg.replacen("<svg ", &attributes, 1)
}
