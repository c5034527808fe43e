//! The throughput frontier: per target, the highest throughput seen with e2e p99 within each
//! bound (chart and evidence table), and first each gateway's frontier on its own cost.

use std::fmt::Write as _;

use crate::analysis::{
    frontier as frontier_at, levels_of, offered_text, trim_float, FRONTIER_BOUNDS_MS,
};
use crate::charts::{line_chart, Axis, LineChart, Marker, Series};
use crate::error::Error;
use crate::html::{escape, not_available};
use crate::schema::RunResult;

/// The throughput frontier: chart plus a table giving each reading's evidence.
pub(in crate::html) fn frontier(run: &RunResult) -> Result<String, Error> {
    let mut series = Vec::new();
    let mut table = String::from("<div class=\"scroll\"><table><tr><th class=\"l\">target</th>");
    for bound in FRONTIER_BOUNDS_MS {
        let _ = write!(table, "<th class=\"l\">p99 ≤ {} ms</th>", trim_float(bound));
    }
    table.push_str("</tr>");
    for (color, target) in run.targets.iter().enumerate() {
        let levels = levels_of(run, &target.name);
        let mut points = Vec::new();
        let mut markers = Vec::new();
        let _ = write!(table, "<tr><td class=\"l\">{}</td>", escape(&target.name));
        for bound in FRONTIER_BOUNDS_MS {
            match frontier_at(&levels, bound) {
                Ok(point) => {
                    points.push((bound, point.achieved_rps));
                    markers.push(if point.floor {
                        Marker::Floor
                    } else {
                        Marker::Plain
                    });
                    let _ = write!(
                        table,
                        "<td class=\"l\">{}<b>{:.1} req/s</b><br>at level {} ({}), p99 {:.3} ms{}</td>",
                        if point.floor { "≥ " } else { "" },
                        point.achieved_rps,
                        point.level,
                        escape(&offered_text(&point.offered)),
                        point.p99_ms,
                        if point.floor {
                            "<br><span class=\"floor\" title=\"no higher level was measured cleanly: the true maximum may be higher\">floor</span>"
                        } else {
                            ""
                        }
                    );
                }
                Err(why) => {
                    let _ = write!(table, "<td class=\"l\">{}</td>", not_available(&why));
                }
            }
        }
        table.push_str("</tr>");
        series.push(Series {
            name: target.name.clone(),
            color,
            points,
            markers,
            dots: true,
            ..Series::default()
        });
    }
    table.push_str("</table></div>");
    let svg = line_chart(&LineChart {
        id: "frontier".into(),
        title: "max throughput with e2e p99 under a bound".into(),
        x_label: "p99 bound, ms".into(),
        y_label: "max achieved, req/s".into(),
        x_axis: Axis::Log,
        y_axis: Axis::Linear,
        series,
        x_span: Some((FRONTIER_BOUNDS_MS[0], FRONTIER_BOUNDS_MS[4])),
    })?;
    let added = added_frontier_table(run);
    Ok(format!(
        "<section id=\"frontier\"><h2>Throughput frontier</h2>{added}{svg}<p class=\"note\">Each cell: \
         the highest achieved throughput at a level whose e2e p99 was within the bound, the level \
         it was seen at and the p99 measured there. <span class=\"floor\">floor</span> (▲ in the \
         chart) means no higher level was measured cleanly, so the true maximum may be higher. \
         Levels flagged rig or mock limited, or saturated, are not used.</p>{table}</section>"
    ))
}

/// Each gateway's frontier on its own cost (max RPS at added e2e p99 within each bound) and
/// its added p99 at concurrency 1, from `run.json`'s `targets[].frontier`.
fn added_frontier_table(run: &RunResult) -> String {
    let Some((gateways, bounds)) = crate::level::frontier_targets(run) else {
        return "<p class=\"note\">No added-latency frontier in this run (version-1 results, or \
                no gateway measured).</p>"
            .to_string();
    };
    let mut table = String::from(
        "<h3>On the gateway's own cost</h3><div class=\"scroll\"><table><tr><th class=\"l\">gateway</th>",
    );
    for bound_ms in bounds {
        let _ = write!(
            table,
            "<th class=\"l\">added p99 ≤ {} ms</th>",
            trim_float(bound_ms)
        );
    }
    table.push_str("<th class=\"l\">added p99 at 1 VU</th></tr>");
    for target in gateways {
        let _ = write!(table, "<tr><td class=\"l\">{}</td>", escape(&target.name));
        for entry in &target.frontier {
            match (&entry.rps.value, entry.level) {
                (Some(rps), Some(level)) => {
                    let _ = write!(
                        table,
                        "<td class=\"l\"><b>{rps:.1} req/s</b><br>at level {level}</td>"
                    );
                }
                _ => {
                    let why = entry.rps.reason.as_deref().unwrap_or("not measured");
                    let _ = write!(table, "<td class=\"l\">{}</td>", not_available(why));
                }
            }
        }
        let c1 = match (
            &target.added_p99_c1_ms.value,
            &target.added_p99_c1_ms.reason,
        ) {
            (Some(ms), _) => format!("{:.0} µs", ms * 1000.0),
            (None, why) => not_available(why.as_deref().unwrap_or("not measured")),
        };
        let _ = write!(table, "<td class=\"l\">{c1}</td></tr>");
    }
    table.push_str(
        "</table></div><p class=\"note\">Each cell: the highest achieved throughput at a clean \
         level (not saturated, not rig- or mock-limited, errors under 0.1%) whose added e2e p99 — \
         the gateway's time outside the mock minus direct's, per request — stayed within the \
         bound.</p><h3>On total latency</h3>",
    );
    table
}
