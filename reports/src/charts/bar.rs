//! [`bar_chart`]: horizontal bars per category, stacked or grouped.

use crate::error::Error;
use plotters::prelude::*;

use super::frame::{draw_svg, grid, titled, DrawError, PlotArea, Swatch};
use super::*;

/// Height of one category's row, px.
const ROW_PX: u32 = 26;

/// Draws `chart` and returns the `<svg>` element.
pub fn bar_chart(chart: &BarChart) -> Result<String, Error> {
    let rows = chart.categories.len().max(1);
    let max = row_totals(chart).into_iter().fold(0.0, f64::max);
    let height = (CHART_SIZE.1).max(90 + ROW_PX * rows as u32);
    let legend: Vec<(String, Swatch)> = chart
        .groups
        .iter()
        .enumerate()
        .map(|(g, (name, _))| (name.clone(), Swatch::Block(PALETTE[g % PALETTE.len()])))
        .collect();
    draw_svg(
        &chart.id,
        &chart.title,
        height,
        &legend,
        max > 0.0,
        |plot| draw_bars(plot, chart, rows, max),
    )
}

/// Each category's bar length: the sum of its groups (stacked) or the longest group.
fn row_totals(chart: &BarChart) -> Vec<f64> {
    (0..chart.categories.len())
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
        .collect()
}

/// The value axis to 5% past the longest bar, one row per category, and the bars.
fn draw_bars(
    plot: &PlotArea<'_>,
    chart: &BarChart,
    rows: usize,
    max: f64,
) -> Result<(), DrawError> {
    let x_max = if max > 0.0 { max * 1.05 } else { 1.0 };
    let longest = chart
        .categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4);
    let mut ctx = titled(plot, &chart.title, (longest as u32 * 7 + 16).clamp(40, 260))
        // Integer ranges include their end: rows segments are 0..=rows − 1.
        .build_cartesian_2d(0.0..x_max, (0..rows as i32 - 1).into_segmented())?;
    let names = &chart.categories;
    grid(
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
            }),
    )
    .draw()?;
    for g in 0..chart.groups.len() {
        ctx.draw_series(group_bars(chart, g, rows))?;
    }
    Ok(())
}

/// The bars of group `g`, one per category with a positive value: after the groups before it
/// (stacked) or in its own band of the row (grouped).
fn group_bars(
    chart: &BarChart,
    g: usize,
    rows: usize,
) -> impl Iterator<Item = Rectangle<(f64, SegmentValue<i32>)>> + '_ {
    let color = PALETTE[g % PALETTE.len()];
    let groups = chart.groups.len().max(1) as f64;
    let values = &chart.groups[g].1;
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.0)
        .map(move |(i, &v)| {
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
        })
}
