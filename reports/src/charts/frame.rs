//! What every chart shares: the legend strip under the plot, the "no data" note, and the
//! attributes that tag the root `<svg>` for the page.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::FLAG_COLOR;

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
pub(super) fn legend_height(entries: usize) -> u32 {
    if entries == 0 {
        0
    } else {
        8 + LEGEND_ROW_PX * entries.div_ceil(LEGEND_COLUMNS) as u32
    }
}

/// The legend as a strip below the plot (never over the data), three entries per row.
pub(super) fn draw_legend(
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

pub(super) fn note_no_data(
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
pub(super) fn tag(svg: String, id: &str, title: &str) -> String {
    let attributes = format!(
        "<svg class=\"chart\" data-chart=\"{}\" role=\"img\" aria-label=\"{}\" ",
        crate::escape::escape(id),
        crate::escape::escape(title)
    );
    svg.replacen("<svg ", &attributes, 1)
}
