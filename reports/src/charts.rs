//! SVG charts for the HTML report, drawn with plotters' SVG backend into strings.
//!
//! Two shapes cover every chart in the report: [`line_chart`] (series of points, optionally on log
//! axes, with flagged points marked) and [`bar_chart`] (horizontal bars per category, stacked or
//! grouped). Text is emitted as SVG `<text>` with a generic `sans-serif` family and drawn by the
//! browser, so no font file or system font library is involved; plotters only estimates text size
//! for layout. Every returned `<svg>` carries `data-chart="<id>"` and a `viewBox`, so the page can
//! find it and scale it to a narrow window.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width and height of every chart, px (scaled by the page's CSS).
pub const CHART_SIZE: (u32, u32) = (720, 380);

/// A colour-blind-safe palette (Okabe–Ito without its pale yellow, then purple and grey);
/// series pick by index.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
    RGBColor(148, 103, 189),
    RGBColor(170, 170, 170),
];

/// Colour of flagged (rig- or mock-limited) points.
const FLAG_COLOR: RGBColor = RGBColor(200, 0, 0);

/// The colour with index `index`, as CSS `rgb(…)` (for HTML legends beside charts).
pub fn css_color(index: usize) -> String {
    let RGBColor(r, g, b) = PALETTE[index % PALETTE.len()];
    format!("rgb({r},{g},{b})")
}

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw chart `{chart}`: {message}")]
pub struct ChartError {
    /// The chart's id.
    pub chart: String,
    /// What plotters reported.
    pub message: String,
}

/// How a point is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Marker {
    /// A plain dot.
    #[default]
    Plain,
    /// A red cross over the dot: the rig or the mock limited this level.
    Flagged,
    /// A hollow triangle: a lower bound (no higher level was measured).
    Floor,
}

/// One line of a [`LineChart`].
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Palette index.
    pub color: usize,
    /// Points `(x, y)` in axis units (not log-transformed).
    pub points: Vec<(f64, f64)>,
    /// Marker per point; missing entries are [`Marker::Plain`].
    pub markers: Vec<Marker>,
    /// Dashed line (used for a second percentile of the same target).
    pub dashed: bool,
    /// Draw dots at the points (curves with many points leave them off).
    pub dots: bool,
}

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Axis {
    /// Linear.
    #[default]
    Linear,
    /// Base-10 logarithmic (values ≤ 0 are left out).
    Log,
    /// Log axis of `1 / (1 − q)` labelled as percentiles (`p99`, `p99.9`, …).
    Quantile,
}

/// A line chart.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    /// Identifier, written as `data-chart` on the `<svg>`.
    pub id: String,
    /// Caption.
    pub title: String,
    /// X axis description, with its unit.
    pub x_label: String,
    /// Y axis description, with its unit.
    pub y_label: String,
    /// X axis mapping.
    pub x_axis: Axis,
    /// Y axis mapping.
    pub y_axis: Axis,
    /// The lines.
    pub series: Vec<Series>,
    /// X range to show at least (axis units), e.g. every frontier bound even without a reading.
    pub x_span: Option<(f64, f64)>,
}

/// Horizontal bars, one row per category, one bar segment per group.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    /// Identifier, written as `data-chart` on the `<svg>`.
    pub id: String,
    /// Caption.
    pub title: String,
    /// Value axis description, with its unit.
    pub value_label: String,
    /// Row labels, top to bottom.
    pub categories: Vec<String>,
    /// `(group name, value per category)`; each group gets a palette colour.
    pub groups: Vec<(String, Vec<f64>)>,
    /// Stack the groups end to end (else draw them side by side within the row).
    pub stacked: bool,
}

fn to_axis(axis: Axis, value: f64) -> Option<f64> {
    match axis {
        Axis::Linear => value.is_finite().then_some(value),
        Axis::Log | Axis::Quantile => (value > 0.0 && value.is_finite()).then(|| value.log10()),
    }
}

fn axis_label(axis: Axis, value: f64) -> String {
    match axis {
        Axis::Linear => short_number(value),
        Axis::Log => short_number(two_significant(10f64.powf(value))),
        // Only whole decades (p90, p99, …) get a label; in between stays a grid line.
        Axis::Quantile if (value - value.round()).abs() > 1e-6 => String::new(),
        Axis::Quantile => {
            let percentile = 100.0 * (1.0 - 10f64.powf(-value));
            let text = format!("{percentile:.4}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            format!("p{text}")
        }
    }
}

/// A compact number for tick labels: 3 significant digits, `k`/`M` for large values.
pub fn short_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.3}M", value / 1e6)
            .replace(".000M", "M")
            .replace("00M", "M")
    } else if magnitude >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 1.0 {
        trim_zeros(format!("{value:.2}"))
    } else if magnitude >= 0.001 {
        trim_zeros(format!("{value:.3}"))
    } else {
        format!("{value:.1e}")
    }
}

/// Rounds to two significant digits (log-axis ticks fall on 10^(k/2): 3.2, 10, 32 …).
fn two_significant(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powf(value.abs().log10().floor() - 1.0);
    (value / scale).round() * scale
}

fn trim_zeros(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `(min, max)` padded so a single value or a flat line still gets a visible range.
fn padded_range(values: impl Iterator<Item = f64>, include_zero: bool) -> (f64, f64) {
    let (mut low, mut high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !low.is_finite() || !high.is_finite() {
        return (0.0, 1.0);
    }
    if include_zero {
        low = low.min(0.0);
        high = high.max(0.0);
    }
    let span = high - low;
    let pad = if span > 0.0 {
        span * 0.05
    } else {
        high.abs().max(1.0) * 0.1
    };
    let low = if include_zero && low >= 0.0 {
        low
    } else {
        low - pad
    };
    (low, high + pad)
}

/// Draws `chart` and returns the `<svg>` element.
pub fn line_chart(chart: &LineChart) -> Result<String, ChartError> {
    let fail = |e: &dyn std::fmt::Display| ChartError {
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

/// Draws `chart` and returns the `<svg>` element.
pub fn bar_chart(chart: &BarChart) -> Result<String, ChartError> {
    let fail = |e: &dyn std::fmt::Display| ChartError {
        chart: chart.id.clone(),
        message: e.to_string(),
    };
    let rows = chart.categories.len().max(1);
    let totals: Vec<f64> = (0..chart.categories.len())
        .map(|i| {
            let values = chart
                .groups
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0.0));
            if chart.stacked {
                values.sum()
            } else {
                values.fold(0.0, f64::max)
            }
        })
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    let x_max = if max > 0.0 { max * 1.05 } else { 1.0 };
    let longest = chart
        .categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4);
    let height = (CHART_SIZE.1).max(90 + 26 * rows as u32);

    let mut svg = String::new();
    {
        let legend: Vec<(String, Swatch)> = chart
            .groups
            .iter()
            .enumerate()
            .map(|(g, (name, _))| (name.clone(), Swatch::Block(PALETTE[g % PALETTE.len()])))
            .collect();
        let size = (CHART_SIZE.0, height + legend_height(legend.len()));
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let (plot, legend_area) = root.split_vertically(height);
        draw_legend(&legend_area, &legend).map_err(|e| fail(&e))?;
        let mut ctx = ChartBuilder::on(&plot)
            .caption(chart.title.as_str(), ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size((longest as u32 * 7 + 16).clamp(40, 260))
            // Integer ranges include their end: rows segments are 0..=rows − 1.
            .build_cartesian_2d(0.0..x_max, (0..rows as i32 - 1).into_segmented())
            .map_err(|e| fail(&e))?;
        let names = &chart.categories;
        ctx.configure_mesh()
            .x_desc(chart.value_label.as_str())
            .disable_y_mesh()
            .y_labels(rows)
            .x_label_formatter(&|v| short_number(*v))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    // Row 0 is drawn at the bottom; the first category goes on top.
                    (rows as i32 - 1 - *i)
                        .try_into()
                        .ok()
                        .and_then(|i: usize| names.get(i).cloned())
                        .unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .max_light_lines(0)
            .bold_line_style(RGBColor(230, 230, 230))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| fail(&e))?;
        let groups = chart.groups.len().max(1) as f64;
        for (g, (_, values)) in chart.groups.iter().enumerate() {
            let color = PALETTE[g % PALETTE.len()];
            let bars = values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(i, &v)| {
                    let row = rows as i32 - 1 - i as i32;
                    let start: f64 = if chart.stacked {
                        chart.groups[..g]
                            .iter()
                            .map(|(_, vs)| vs.get(i).copied().unwrap_or(0.0))
                            .sum()
                    } else {
                        0.0
                    };
                    // Grouped bars split the row's 26 px between the groups.
                    let (top, bottom) = if chart.stacked {
                        (4, 4)
                    } else {
                        let band = 20.0 / groups;
                        (
                            (3.0 + band * g as f64) as u32,
                            (3.0 + band * (groups - 1.0 - g as f64)) as u32,
                        )
                    };
                    let mut bar = Rectangle::new(
                        [
                            (start, SegmentValue::Exact(row)),
                            (start + v, SegmentValue::Exact(row + 1)),
                        ],
                        color.filled(),
                    );
                    bar.set_margin(top, bottom, 0, 0);
                    bar
                });
            ctx.draw_series(bars).map_err(|e| fail(&e))?;
        }
        if max <= 0.0 {
            note_no_data(&plot).map_err(|e| fail(&e))?;
        }
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(tag(svg, &chart.id, &chart.title))
}

/// What a legend entry shows before its text.
enum Swatch {
    /// A line in this colour, dashed or solid.
    Line(RGBColor, bool),
    /// A filled block (bars).
    Block(RGBColor),
    /// The red cross of flagged points.
    Flag,
    /// The hollow triangle of floor readings.
    Floor,
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
        crate::html::escape(id),
        crate::html::escape(title)
    );
    svg.replacen("<svg ", &attributes, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_chart_is_tagged_and_scalable() {
        let chart = LineChart {
            id: "t".into(),
            title: "RPS <vs> load".into(),
            x_label: "offered, req/s".into(),
            y_label: "achieved, req/s".into(),
            series: vec![Series {
                name: "reference".into(),
                points: vec![(10.0, 9.0), (20.0, 19.0)],
                markers: vec![Marker::Plain, Marker::Flagged],
                dots: true,
                ..Series::default()
            }],
            ..LineChart::default()
        };
        let svg = line_chart(&chart).expect("draws");
        assert!(svg.starts_with("<svg class=\"chart\" data-chart=\"t\""));
        assert!(svg.contains("viewBox="));
        assert!(svg.contains("RPS &lt;vs&gt; load"));
        assert!(svg.contains("rig/mock limited"), "flag legend");
    }

    #[test]
    fn quantile_axis_labels_read_as_percentiles() {
        assert_eq!(axis_label(Axis::Quantile, 2.0), "p99");
        assert_eq!(axis_label(Axis::Quantile, 4.0), "p99.99");
        assert_eq!(axis_label(Axis::Quantile, 0.0), "p0");
        assert_eq!(axis_label(Axis::Quantile, 1.5), "");
        assert_eq!(axis_label(Axis::Log, 1.6), "40");
        assert_eq!(axis_label(Axis::Log, -0.5), "0.32");
    }

    #[test]
    fn short_numbers_keep_small_values_visible() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(0.0087), "0.009");
        assert_eq!(short_number(0.0000215), "2.2e-5");
        assert_eq!(short_number(1.5752), "1.58");
        assert_eq!(short_number(25_000.0), "25k");
    }

    #[test]
    fn empty_charts_say_so() {
        let svg = bar_chart(&BarChart {
            id: "e".into(),
            categories: vec!["a".into()],
            groups: vec![("x".into(), vec![0.0])],
            stacked: true,
            ..BarChart::default()
        })
        .expect("draws");
        assert!(svg.contains("no data"));
    }
}
