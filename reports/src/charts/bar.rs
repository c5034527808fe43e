//! [`bar_chart`]: horizontal bars per category, stacked or grouped.

use crate::error::Error;
use plotters::prelude::*;

use super::frame::{draw_legend, legend_height, note_no_data, tag, Swatch};
use super::*;

/// Draws `chart` and returns the `<svg>` element.
pub fn bar_chart(chart: &BarChart) -> Result<String, Error> {
    let fail = |e: &dyn std::fmt::Display| Error::Chart {
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
