//! SVG charts for the HTML report, drawn with plotters' SVG backend into strings.
//!
//! Two shapes cover every chart in the report: [`line_chart`] (series of points, optionally on log
//! axes, with flagged points marked) and [`bar_chart`] (horizontal bars per category, stacked or
//! grouped). Text is emitted as SVG `<text>` with a generic `sans-serif` family and drawn by the
//! browser, so no font file or system font library is involved; plotters only estimates text size
//! for layout. Every returned `<svg>` carries `data-chart="<id>"` and a `viewBox`, so the page can
//! find it and scale it to a narrow window.

mod bar;
mod frame;
mod line;

use plotters::prelude::*;

pub use bar::bar_chart;
pub use line::line_chart;

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
    /// A red ring: the first run of a new segment (a change point of a run history).
    Change,
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
        Axis::Quantile => crate::stats::tail::percentile_name(1.0 - 10f64.powf(-value)),
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
